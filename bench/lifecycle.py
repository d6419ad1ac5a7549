"""List and create users: `authsvc serve` against a bare Starlette app answering the same JSON.

    python -m bench.run --suites lifecycle        # part of the default suites
    python -m bench.lifecycle --port N --list-body FILE    # the baseline server (internal)

Each round starts the service on a fresh data directory, reads the demo customer's first page of
users once (that exact body is what the baseline then serves), and loads
`GET /customers/{id}/users` and `POST /customers/{id}/users` at each connection count; then the
baseline the same way. Every create carries an e-mail address no other request used (wrk's
`request()` hook, or the Python loop below), so each one inserts a user, an invitation, an outbox
row and an audit event, and the in-process delivery loop writes the invite mail.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench import service
from bench.load import _WRK_LUA, LoadResult, Target, have_wrk
from bench.procs import Server, free_port, spawned

API = "/auth/api/v1"
CREATED = {"status": "success", "message": "Customer user created."}
# wrk: one request per call, each with an address of its own (a run tag, then a counter).
_CREATE_LUA = """
local counter = 0
function request()
  counter = counter + 1
  local body = string.format(%(template)s, counter)
  return wrk.format("POST", nil, nil, body)
end
"""


def _create_body(subrole: dict[str, str], email: str) -> bytes:
    body = {"first_name": "Bench", "last_name": "User", "email": email, "subrole": subrole}
    return json.dumps(body).encode()


def _wrk(
    target: Target, *, connections: int, seconds: float, create_template: str | None
) -> LoadResult:
    headers = "\n".join(
        f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in target.headers
    )
    script = _WRK_LUA % {
        "method": target.method,
        "body": json.dumps(target.body.decode()) if target.body else "nil",
        "headers": headers,
        "status": target.expect_status,
        "paths": ", ".join(json.dumps(path) for path in target.paths),
    }
    if create_template is not None:
        script += _CREATE_LUA % {"template": json.dumps(create_template)}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        command = [
            "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s",
            "--timeout", "10s", "-s", handle.name, target.url,
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    finally:
        Path(handle.name).unlink()
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("{")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout}")
    raw = json.loads(line)
    duration = raw["duration_us"] / 1e6
    return LoadResult(
        "wrk", connections, round(duration, 3), raw["requests"], raw["requests"] / duration,
        raw["p50_us"] / 1000, raw["p90_us"] / 1000, raw["p99_us"] / 1000, raw["max_us"] / 1000,
        raw["bad_status"], raw["socket_errors"],
    )  # fmt: skip


async def _python_load(
    target: Target, *, connections: int, seconds: float, create_template: str | None
) -> LoadResult:
    """httpx keep-alive clients: a fallback for smoke runs without wrk (client-bound)."""
    latencies: list[float] = []
    bad = errors = 0
    counter = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=10, headers=dict(target.headers)) as client:

        async def worker() -> None:
            nonlocal bad, errors, counter
            while time.perf_counter() < deadline:
                counter += 1
                body = (
                    (create_template % counter).encode() if create_template else target.body
                ) or None
                started = time.perf_counter()
                try:
                    response = await client.request(target.method, target.url, content=body)
                except httpx.HTTPError:
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - started)
                bad += response.status_code != target.expect_status

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - began
    ordered = sorted(latencies) or [0.0]

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return LoadResult(
        "python", connections, round(elapsed, 3), len(latencies), len(latencies) / elapsed,
        pct(0.5), pct(0.9), pct(0.99), ordered[-1] * 1000, bad, errors,
    )  # fmt: skip


def run_load(
    target: Target, *, connections: int, seconds: float, tool: str, create_template: str | None
) -> LoadResult:
    if tool == "wrk" or (tool == "auto" and have_wrk()):
        return _wrk(
            target, connections=connections, seconds=seconds, create_template=create_template
        )
    return asyncio.run(
        _python_load(
            target, connections=connections, seconds=seconds, create_template=create_template
        )
    )


def _targets(server: Server, customer: str, token: str) -> tuple[Target, Target]:
    auth = (("Authorization", f"Bearer {token}"),)
    url = f"{server.base_url}{API}/customers/{customer}/users"
    listing = Target(url=url, headers=auth)
    create = Target(url=url, method="POST", headers=(*auth, ("Content-Type", "application/json")))
    return listing, create


def _template(subrole: dict[str, str]) -> str:
    """The create body with `%d` where the counter goes: `bench-<tag>-<n>@example.com`."""
    marker = "@@COUNTER@@"
    body = _create_body(subrole, f"bench-{uuid.uuid4().hex[:8]}-{marker}@example.com").decode()
    return body.replace("%", "%%").replace(marker, "%d")


def _measure(
    subject: str,
    server: Server,
    targets: tuple[Target, Target],
    subrole: dict[str, str],
    *,
    connections: list[int],
    seconds: float,
    tool: str,
) -> dict[str, Any]:
    listing, create = targets
    sample: dict[str, Any] = {"subject": subject, "startup_s": server.startup_s, "loads": []}
    for operation, target in (("list", listing), ("create", create)):
        for count in connections:
            template = _template(subrole) if operation == "create" else None
            result = run_load(
                target, connections=count, seconds=seconds, tool=tool, create_template=template
            )
            sample["loads"].append(
                {
                    **result.as_dict(),
                    "operation": operation,
                    "ok": result.ok,
                    "rss_mb": server.rss_mb(),
                }
            )
    return sample


@contextmanager
def _baseline(log_dir: Path, list_body: bytes) -> Iterator[Server]:
    with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as handle:
        handle.write(list_body)
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "bench.lifecycle",
        "--port",
        str(port),
        "--list-body",
        handle.name,
    ]
    ready = httpx.Request("GET", f"http://127.0.0.1:{port}/healthz")
    try:
        with spawned(
            "baseline-lifecycle", command, port=port, ready=ready, log_dir=log_dir
        ) as server:
            yield server
    finally:
        Path(handle.name).unlink()


def run_lifecycle(args: argparse.Namespace, log_dir: Path) -> dict[str, Any]:
    """The service and its baseline, back to back, `args.rounds` times."""
    connections = [c for c in args.connections if c <= 16] or [min(args.connections)]
    kw = {"connections": connections, "seconds": args.seconds, "tool": args.tool}
    samples = []
    for rnd in range(args.rounds):
        with service.service(log_dir) as (server, resend):
            token = dict(resend.headers)["Authorization"].removeprefix("Bearer ")
            customer = resend.url.split("/customers/")[1].split("/")[0]
            auth = {"Authorization": f"Bearer {token}"}
            base = f"{server.base_url}{API}/customers/{customer}"
            subroles = httpx.get(f"{base}/subroles", headers=auth, timeout=10).json()["data"]
            subrole = {k: subroles[0][k] for k in ("id", "code", "label")}
            first_page = httpx.get(f"{base}/users", headers=auth, timeout=10)
            first_page.raise_for_status()
            sample = _measure(
                "service-sqlite", server, _targets(server, customer, token), subrole, **kw
            )
        with _baseline(log_dir, first_page.content) as baseline:
            base_sample = _measure(
                "baseline", baseline, _targets(baseline, customer, token), subrole, **kw
            )
        for s in (base_sample, sample):
            s["round"] = rnd
            bad = [x for x in s["loads"] if not x["ok"]]
            if bad:
                raise RuntimeError(f"lifecycle {s['subject']}: {bad}")
            samples.append(s)
            print(f"  lifecycle {s['subject']:<15} " + ", ".join(
                f"{x['operation']} c={x['connections']}: {x['rps']:.0f} req/s p99 {x['p99_ms']:.1f} ms"
                for x in s["loads"]
            ), flush=True)  # fmt: skip
    return {"samples": samples, "list_items": len(first_page.json()["data"]["records"])}


def render(results: dict[str, Any]) -> str:
    """The report section: medians of the rounds, ratios against the baseline of the same run."""
    samples = results["samples"]
    out = [
        "## Lifecycle: list and create users vs bare Starlette (bench/lifecycle.py)",
        "",
        f"The list answers the demo customer's first page ({results['list_items']} users), the same "
        "bytes from both; every create inserts a new user (unique e-mail) with its invitation, "
        "outbox row and audit event, and the mail loop writes its invite.",
        "",
        "| operation | connections | baseline req/s | service req/s | service/baseline | service p99 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    keys = sorted({(x["operation"], x["connections"]) for s in samples for x in s["loads"]})
    for operation, count in sorted(keys, key=lambda k: (k[0] != "list", k[1])):

        def median(subject: str, field: str, op: str = operation, c: int = count) -> float:
            return statistics.median(
                x[field]
                for s in samples
                if s["subject"] == subject
                for x in s["loads"]
                if (x["operation"], x["connections"]) == (op, c)
            )

        base, ours = median("baseline", "rps"), median("service-sqlite", "rps")
        out.append(
            f"| {operation} | {count} | {base:.0f} | {ours:.0f} | {ours / base:.3f} | "
            f"{median('service-sqlite', 'p99_ms'):.1f} |"
        )
    return "\n".join(out) + "\n"


def _baseline_app(list_body: bytes) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def list_users(_request: Request) -> Response:
        return Response(list_body, media_type="application/json")

    async def create_user(_request: Request) -> JSONResponse:
        return JSONResponse({**CREATED, "data": {"user_id": str(uuid.uuid4())}})

    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "database": "ok"})

    users = f"{API}/customers/{{customerID}}/users"
    return Starlette(
        routes=[
            Route(users, list_users, methods=["GET"]),
            Route(users, create_user, methods=["POST"]),
            Route("/healthz", healthz),
        ]
    )


def main() -> None:
    import uvicorn

    from authsvc.cli import SERVICE_EVENT_LOOP

    parser = argparse.ArgumentParser(description="the lifecycle baseline server")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--list-body", type=Path, required=True)
    args = parser.parse_args()
    app = _baseline_app(args.list_body.read_bytes())
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="info", loop=SERVICE_EVENT_LOOP)


if __name__ == "__main__":
    main()
