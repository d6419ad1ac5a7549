"""Where one resend request's time goes: CPU per layer and a pyinstrument profile, in-process.

Requests go straight into the ASGI app (no HTTP client, no server), so the figures hold only what
the app costs: the bare Starlette baseline, Connexion with the resend handler's work replaced by
nothing (its stack alone), and the full resend on SQLite. A token seen before is a cache hit, as
in the live benchmark. Prints a table, then pyinstrument's call tree of the full request.

    python -m bench.profile_request [--requests 2000] [--profile-requests 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.baseline import build_app
from bench.breakdown import in_process_service

Asgi = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


async def call(app: Asgi, method: str, path: str, headers: list[tuple[bytes, bytes]]) -> int:
    """One request through `app`; its status."""
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
        "state": {},
    }
    await app(scope, receive, send)
    return statuses[0]


async def cpu_us(app: Asgi, path: str, headers: list[tuple[bytes, bytes]], n: int) -> float:
    for _ in range(30):  # warm: validators, caches, pooled connections
        status = await call(app, "POST", path, headers)
        if status != 200:
            raise RuntimeError(f"unexpected status {status}")
    started = time.process_time()
    for _ in range(n):
        await call(app, "POST", path, headers)
    return (time.process_time() - started) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--profile-requests", type=int, default=3000)
    args = parser.parse_args()
    from pyinstrument import Profiler

    with in_process_service() as (info, services, app, path):
        headers = [
            (b"host", b"bench"),
            (b"authorization", f"Bearer {info['admin_token']}".encode()),
            (b"content-length", b"0"),
        ]

        async def resend_nothing(**_: object) -> None:
            return None

        async def rows() -> dict[str, float]:
            table = {"bare Starlette, same route and JSON": await cpu_us(
                build_app(), path, headers, args.requests)}  # fmt: skip
            object.__setattr__(services, "resend_invite", resend_nothing)
            table["Connexion stack, resend handler doing nothing"] = await cpu_us(
                app, path, headers, args.requests
            )
            object.__delattr__(services, "resend_invite")  # the class's method again
            table["full resend (SQLite)"] = await cpu_us(app, path, headers, args.requests)
            return table

        async def profile() -> str:
            profiler = Profiler(interval=0.0002, async_mode="disabled")
            profiler.start()
            for _ in range(args.profile_requests):
                await call(app, "POST", path, headers)
            profiler.stop()
            return str(profiler.output_text(unicode=False, color=False))

        table = asyncio.run(rows())
        print("| layer | CPU us/request |\n| --- | ---: |")
        for name, value in table.items():
            print(f"| {name} | {value:.0f} |")
        print(f"\npyinstrument, {args.profile_requests} full resend requests:\n")
        print(asyncio.run(profile()))


if __name__ == "__main__":
    main()
