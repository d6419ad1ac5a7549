"""Sessions: sign-in against the bare Argon2id rate, known vs unknown e-mail, refresh vs a GET.

    python -m bench.sessions [--seconds 8] [--connections 8] [--samples 60] [--out FILE.json]

One `authsvc serve` (SQLite, fresh data directory, the demo admin's development password), the
throttle's sign-in limits set out of reach. In the same run:

- the bare Argon2id rate: verifications of the demo admin's stored hash in as many threads as
  the service lets hash at once (`PASSWORD_HASHES_AT_ONCE`), in this process, with the service
  idle; then sign-ins per second with the right password from `--connections` clients. Sign-in
  is bounded by Argon2id by design, so the ratio should be near 1;
- the latency of a refused sign-in for a known e-mail (wrong password) and for an unknown one,
  one client, interleaved, `--samples` each: the refusals must cost the same;
- refreshes per second (each client rotates its own session's token) against GETs of one user per
  second, same clients and seconds.

Nothing here asserts a timing; the figures go to bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench.machine import describe, loadavg
from bench.procs import free_port, spawned

API = "/auth/api/v1"
BENCH_ROOT = Path(__file__).resolve().parent.parent
SETTINGS = {
    "AUTHSVC_SIGN_IN_FREE_FAILURES": "1000000000",
    "AUTHSVC_SIGN_IN_ADDRESS_LIMIT": "1000000000",
}


def argon2_rate(stored_hash: str, password: str, threads: int, seconds: float) -> float:
    """Verifications per second of `stored_hash` in `threads` threads (what sign-in spends)."""
    from authsvc.security.passwords import check_password

    stop = time.perf_counter() + seconds
    counts = [0] * threads

    def work(slot: int) -> None:
        while time.perf_counter() < stop:
            check_password(stored_hash, password)
            counts[slot] += 1

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.perf_counter() - started)


async def rate(base: str, connections: int, seconds: float, send: Any, expect: int = 200) -> float:
    """Requests per second answered `expect`, `connections` clients for `seconds`."""
    done = 0
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=connections)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:

        async def one(slot: int) -> None:
            nonlocal done
            state: dict[str, Any] = {}
            while time.perf_counter() < stop:
                response = await send(client, state)
                if response.status_code != expect:
                    raise RuntimeError(f"{response.status_code} {response.text[:200]}")
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(connections)))
        return done / (time.perf_counter() - started)


async def refused_latencies(base: str, email: str, samples: int) -> dict[str, list[float]]:
    """Milliseconds of refused sign-ins, known e-mail (wrong password) and unknown, interleaved."""
    timings: dict[str, list[float]] = {"known e-mail, wrong password": [], "unknown e-mail": []}
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        for n in range(samples):
            for label, address in (
                ("known e-mail, wrong password", email),
                ("unknown e-mail", f"nobody{n}@example.com"),
            ):
                started = time.perf_counter()
                response = await client.post(
                    f"{API}/customer/sign-in",
                    json={"email": address, "password": "Wr0ng-Password!"},
                )
                timings[label].append((time.perf_counter() - started) * 1000)
                if response.status_code != 400:
                    raise RuntimeError(f"{response.status_code} {response.text[:200]}")
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sessions", description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    from sqlalchemy import create_engine, select

    from authsvc.db.models import User
    from authsvc.demo import DEMO
    from authsvc.services.container import PASSWORD_HASHES_AT_ONCE

    authsvc = str(Path(sys.executable).parent / "authsvc")
    env = {**os.environ, **SETTINGS}
    load_before = loadavg()
    with tempfile.TemporaryDirectory(prefix="authsvc-bench-") as data_dir:
        demo = json.loads(
            subprocess.run(
                [authsvc, "demo", "--data-dir", data_dir, "--json"],
                capture_output=True, text=True, env=env, cwd=BENCH_ROOT, timeout=120, check=True,
            ).stdout
        )  # fmt: skip
        email, password = demo["admin_email"], demo["admin_password"]
        engine = create_engine(f"sqlite:///{data_dir}/authsvc.db")
        with engine.connect() as connection:
            stored = connection.scalar(
                select(User.password_hash).where(User.id == DEMO.admin_user_id)
            )
        engine.dispose()
        assert stored, "the demo admin has no password"
        port = free_port()
        command = [authsvc, "serve", "--data-dir", data_dir, "--port", str(port)]
        ready = httpx.Request("GET", f"http://127.0.0.1:{port}/healthz")
        with spawned(
            "sessions", command, port=port, ready=ready, log_dir=Path(data_dir), env=env,
            cwd=BENCH_ROOT,
        ) as server:  # fmt: skip
            base = server.base_url
            hashes = argon2_rate(stored, password, PASSWORD_HASHES_AT_ONCE, args.seconds)

            async def sign_in(client: httpx.AsyncClient, state: dict[str, Any]) -> httpx.Response:
                body = {"email": email, "password": password}
                return await client.post(f"{API}/customer/sign-in", json=body)

            async def refresh(client: httpx.AsyncClient, state: dict[str, Any]) -> httpx.Response:
                if "token" not in state:
                    state["token"] = (await sign_in(client, state)).json()["data"]["refresh_token"]
                response = await client.post(
                    f"{API}/refresh-token/customer", json={"refresh_token": state["token"]}
                )
                if response.status_code == 200:
                    state["token"] = response.json()["data"]["refresh_token"]
                return response

            user_path = f"{API}/customers/{demo['customer_id']}/users/{demo['active_user_id']}"

            async def get_user(client: httpx.AsyncClient, state: dict[str, Any]) -> httpx.Response:
                headers = {"Authorization": f"Bearer {demo['admin_token']}"}
                return await client.get(user_path, headers=headers)

            n, seconds = args.connections, args.seconds
            sign_ins = asyncio.run(rate(base, n, seconds, sign_in))
            refused = asyncio.run(refused_latencies(base, email, args.samples))
            refreshes = asyncio.run(rate(base, n, seconds, refresh))
            gets = asyncio.run(rate(base, n, seconds, get_user))
    medians = {k: statistics.median(v) for k, v in refused.items()}
    results = {
        "machine": describe(None),
        "load_before": load_before,
        "load_after": loadavg(),
        "threads_hashing": PASSWORD_HASHES_AT_ONCE,
        "argon2_verifications_per_s": hashes,
        "sign_ins_per_s": sign_ins,
        "sign_in_vs_argon2": sign_ins / hashes,
        "refused_ms_median": medians,
        "refused_ms_p90": {k: statistics.quantiles(v, n=10)[-1] for k, v in refused.items()},
        "refreshes_per_s": refreshes,
        "get_user_per_s": gets,
        "refresh_vs_get": refreshes / gets,
        "connections": n,
        "seconds": seconds,
        "samples": args.samples,
    }
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
