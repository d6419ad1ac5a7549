"""Throughput against the worker count: `authsvc serve --workers N` on PostgreSQL vs bare Starlette.

For N in (1, 2) and each user count, in one run: a bare Starlette app with the same routes and
answers of the same size, run by uvicorn with the same N workers (the baseline), and the service
with N workers and no mail loop (delivery is not what is measured), each driven by wrk at a fixed
number of connections for list (a page of 20), get and resend. Requests take distinct users in
turn (wrk rotates the paths), so no row is hot. The resend and invitation-mail limits are set out
of reach: the 200 path is measured, never the 429.

    python -m bench.workers [--users 1000,100000] [--seconds 10] [--connections 16]

Writes bench/results/<date>-workers.json and .md: req/s, p99 and CPU per request of each subject,
and each service/baseline ratio.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.load import Target, run_load
from bench.machine import loadavg
from bench.procs import Server, free_port, spawned
from bench.service import BENCH_ROOT, _authsvc, fresh_database, postgres_cluster

RESULTS = Path(__file__).resolve().parent / "results"
API = "/auth/api/v1"
OUT_OF_REACH = {
    "AUTHSVC_RESEND_LIMIT": "1000000000",
    "AUTHSVC_RESEND_WINDOW_SECONDS": "1",
    "AUTHSVC_INVITE_MAIL_LIMIT": "1000000000",
    "AUTHSVC_INVITE_MAIL_WINDOW_SECONDS": "1",
    "AUTHSVC_LOG_LEVEL": "WARNING",  # the baseline logs no access lines either (below)
}
OPERATIONS = ("list", "get", "resend")
SAMPLE_PATHS = 2000  # distinct paths wrk takes in turn


def seed_users(database_url: str, customer_id: str, count: int) -> list[str]:
    """`count` INVITED users of the demo customer, inserted in one statement; a sample of ids."""
    import psycopg

    plain = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute(
            """
            INSERT INTO users (id, customer_id, email, email_normalized, first_name, last_name,
                               subrole_id, status, is_email_verified, is_first_login,
                               is_platform_admin, created_at, updated_at)
            SELECT gen_random_uuid(), %(c)s, 'bench' || n || '@example.com',
                   'bench' || n || '@example.com', 'Bench', 'User' || n,
                   (SELECT id FROM subroles WHERE customer_id = %(c)s AND code = 'cro'),
                   'INVITED', false, true, false, now() - (n || ' seconds')::interval, now()
            FROM generate_series(1, %(n)s) AS n
            """,
            {"c": customer_id, "n": count},
        )
        connection.execute("ANALYZE")
        rows = connection.execute(
            "SELECT id FROM users WHERE customer_id = %s AND email LIKE 'bench%%' "
            "ORDER BY random() LIMIT %s",
            (customer_id, SAMPLE_PATHS),
        ).fetchall()
    return [str(row[0]) for row in rows]


def targets(
    base: str, token: str, customer: str, users: list[str], pages: int
) -> dict[str, Target]:
    auth = (("Authorization", f"Bearer {token}"),)
    root = f"{API}/customers/{customer}"
    return {
        "list": Target(
            base + root + "/users",
            headers=auth,
            paths=tuple(f"{root}/users?page={1 + i % pages}" for i in range(SAMPLE_PATHS)),
        ),
        "get": Target(
            base + root + "/users", headers=auth, paths=tuple(f"{root}/users/{u}" for u in users)
        ),
        "resend": Target(
            base + root + "/users",
            method="POST",
            headers=auth,
            paths=tuple(f"{root}/users/{u}/resend-invite" for u in users),
        ),
    }


@contextmanager
def baseline(workers: int, log_dir: Path) -> Iterator[Server]:
    port = free_port()
    command = [
        sys.executable, "-m", "bench.baseline", "--port", str(port),
        "--workers", str(workers), "--log-level", "warning",
    ]  # fmt: skip
    ready = httpx.Request("GET", f"http://127.0.0.1:{port}/healthz")
    with spawned(
        f"baseline-w{workers}", command, port=port, ready=ready, log_dir=log_dir, cwd=BENCH_ROOT
    ) as server:
        yield server


@contextmanager
def service(workers: int, database_url: str, data_dir: str, log_dir: Path) -> Iterator[Server]:
    port = free_port()
    command = [
        _authsvc(), "serve", "--data-dir", data_dir, "--port", str(port),
        "--workers", str(workers), "--no-mail-loop",
    ]  # fmt: skip
    ready = httpx.Request("GET", f"http://127.0.0.1:{port}/readyz")
    env = {**OUT_OF_REACH, "AUTHSVC_DATABASE_URL": database_url}
    with spawned(
        f"service-w{workers}", command, port=port, ready=ready, log_dir=log_dir, env=env,
        cwd=BENCH_ROOT, timeout=120,
    ) as server:  # fmt: skip
        # Every worker warmed (imports, plans, pools), not only the first to answer.
        for _ in range(8 * workers):
            httpx.get(server.base_url + "/readyz", timeout=30)
        yield server


def drive(server: Server, target: Target, *, connections: int, seconds: float) -> dict[str, Any]:
    run_load(target, connections=connections, seconds=min(3.0, seconds), tool="wrk")  # warm-up
    cpu = server.cpu_seconds()
    result = run_load(target, connections=connections, seconds=seconds, tool="wrk")
    cpu = server.cpu_seconds() - cpu
    return {
        **result.as_dict(),
        "ok": result.ok,
        "cpu_ms_per_request": cpu * 1000 / result.requests if result.requests else None,
    }


def run(users_counts: list[int], *, seconds: float, connections: int) -> dict[str, Any]:
    samples: list[dict[str, Any]] = []
    started = {"loadavg": loadavg(), "at": dt.datetime.now(dt.UTC).isoformat()}
    with postgres_cluster() as cluster, tempfile.TemporaryDirectory() as scratch:
        if cluster is None:
            raise SystemExit("PostgreSQL is needed (initdb/pg_ctl)")
        log_dir = Path(scratch)
        for count in users_counts:
            url = fresh_database(cluster, f"bench_workers_{count}")
            data_dir = str(Path(scratch) / f"data-{count}")
            demo = json.loads(
                subprocess.run(
                    [_authsvc(), "demo", "--data-dir", data_dir, "--json"],
                    capture_output=True, text=True, check=True, timeout=120, cwd=BENCH_ROOT,
                    env={**_env(), "AUTHSVC_DATABASE_URL": url},
                ).stdout
            )  # fmt: skip
            sample_users = seed_users(url, demo["customer_id"], count)
            pages = max(1, count // 20)
            for workers in (1, 2):
                for subject in ("baseline", "service"):
                    context = (
                        baseline(workers, log_dir)
                        if subject == "baseline"
                        else service(workers, url, data_dir, log_dir)
                    )
                    with context as server:
                        for operation, target in targets(
                            server.base_url, demo["admin_token"], demo["customer_id"],
                            sample_users, pages,
                        ).items():  # fmt: skip
                            load = drive(server, target, connections=connections, seconds=seconds)
                            samples.append(
                                {
                                    "users": count,
                                    "workers": workers,
                                    "subject": subject,
                                    "operation": operation,
                                    **load,
                                }
                            )
                            print(json.dumps(samples[-1]), flush=True)
    started["loadavg_after"] = loadavg()
    return {"run": started, "connections": connections, "seconds": seconds, "samples": samples}


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("AUTHSVC_")}


def report(data: dict[str, Any]) -> str:
    rows = {(s["users"], s["workers"], s["subject"], s["operation"]): s for s in data["samples"]}
    lines = [
        "| users | workers | operation | baseline req/s | service req/s | ratio | service p99 ms"
        " | service CPU ms/req |",
        "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for users, workers, subject, operation in sorted(rows):
        if subject != "service":
            continue
        svc = rows[(users, workers, "service", operation)]
        base = rows[(users, workers, "baseline", operation)]
        lines.append(
            f"| {users} | {workers} | {operation} | {base['rps']:.0f} | {svc['rps']:.0f} | "
            f"{svc['rps'] / base['rps']:.3f}x | {svc['p99_ms']:.1f} | "
            f"{svc['cpu_ms_per_request']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", default="1000,100000")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    data = run(
        [int(u) for u in args.users.split(",")], seconds=args.seconds, connections=args.connections
    )
    day = dt.date.today().isoformat()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{day}-workers.json").write_text(json.dumps(data, indent=2))
    print(report(data))


if __name__ == "__main__":
    main()
