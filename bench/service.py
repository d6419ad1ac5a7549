"""Suite 1 and 4: the service end to end (SQLite, PostgreSQL) against a bare Starlette baseline.

Each round starts every subject fresh and drives it back to back at each connection count, so
noise from other work on the machine falls on baseline and service alike. The resend limit is
raised (`AUTHSVC_RESEND_LIMIT`, `AUTHSVC_INVITE_MAIL_LIMIT`) so that the benchmark measures the 200 path, never the 429.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import httpx

from bench.load import Target, run_load
from bench.procs import Server, free_port, spawned

VENV_BIN = Path(sys.executable).parent
# No request is throttled: the limit is out of reach, and the window is one second so the rate
# query counts at most one second of this user's invitations (production: at most the limit, 5).
UNTHROTTLED = {
    "AUTHSVC_RESEND_LIMIT": "1000000000",
    "AUTHSVC_RESEND_WINDOW_SECONDS": "1",
    # The customer's invitation mails (create and resend together) are limited too.
    "AUTHSVC_INVITE_MAIL_LIMIT": "1000000000",
    "AUTHSVC_INVITE_MAIL_WINDOW_SECONDS": "1",
}
BENCH_ROOT = Path(__file__).resolve().parent.parent
RESEND = "/auth/api/v1/customers/{customer}/users/{user}/resend-invite"


def _authsvc() -> str:
    return str(VENV_BIN / "authsvc")


@contextmanager
def baseline(log_dir: Path, *, loop: str | None = None) -> Iterator[tuple[Server, Target]]:
    """The bare Starlette baseline, on the service's event loop unless `loop` names another."""
    port = free_port()
    command = [sys.executable, "-m", "bench.baseline", "--port", str(port)]
    if loop:
        command += ["--loop", loop]
    ready = httpx.Request("GET", f"http://127.0.0.1:{port}/healthz")
    with spawned("baseline", command, port=port, ready=ready, log_dir=log_dir) as server:
        path = RESEND.format(customer=uuid.uuid4(), user=uuid.uuid4())
        yield server, _resend_target(server.base_url + path, "x.y.z")


@contextmanager
def service(
    log_dir: Path,
    database_url: str | None = None,
    *,
    before: Path | None = None,
    delivery: bool = True,
    sqlite_synchronous: str | None = None,
    data_dir: Path | None = None,
) -> Iterator[tuple[Server, Target]]:
    """`authsvc serve` on a fresh data directory (and a fresh database when given one).

    `before` is the `bin` directory of another tree's install (`bench.before.installed`): the
    code before a change, for before/after figures in the same run. `delivery=False` serves
    without the in-process mail loop (bench/serve_without_delivery.py). `sqlite_synchronous`
    ("NORMAL") changes that one pragma (bench/serve_sqlite_normal.py). `data_dir` (an empty
    directory the caller owns) instead of a temporary one: to read its database meanwhile.
    """
    name = "service-postgresql" if database_url else "service-sqlite"
    authsvc = [_authsvc()]
    env = dict(UNTHROTTLED)
    if before is not None:
        name += "@before"
        authsvc = [str(before / "authsvc")]
    elif sqlite_synchronous is not None:
        name += f"-{sqlite_synchronous.lower()}"
        authsvc = [sys.executable, "-m", "bench.serve_sqlite_normal"]
        if sqlite_synchronous != "NORMAL":
            raise ValueError("only NORMAL is offered besides the default")
    if database_url:
        env["AUTHSVC_DATABASE_URL"] = database_url
    with (
        tempfile.TemporaryDirectory(prefix="authsvc-bench-")
        if data_dir is None
        else nullcontext(str(data_dir))
    ) as directory:
        demo = subprocess.run(
            [*authsvc, "demo", "--data-dir", directory, "--json"],
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            cwd=BENCH_ROOT,
            timeout=120,
            check=True,
        )
        info = json.loads(demo.stdout)
        port = free_port()
        command = [*authsvc, "serve", "--data-dir", directory, "--port", str(port)]
        if not delivery:
            name += "-nodelivery"
            command = [sys.executable, "-m", "bench.serve_without_delivery", *command[-4:]]
        ready = httpx.Request("GET", f"http://127.0.0.1:{port}/healthz")
        with spawned(
            name, command, port=port, ready=ready, log_dir=log_dir, env=env, cwd=BENCH_ROOT
        ) as server:
            path = RESEND.format(customer=info["customer_id"], user=info["invited_user_id"])
            yield server, _resend_target(server.base_url + path, info["admin_token"])


@contextmanager
def postgres_cluster() -> Iterator[str | None]:
    """A private PostgreSQL cluster (the tests' `throwaway_postgres`, fsync off), or None."""
    from tests.support.databases import throwaway_postgres

    with throwaway_postgres() as url:
        yield url


def fresh_database(cluster_url: str, name: str) -> str:
    """CREATE DATABASE `name` on the cluster; the URL of the new, empty database."""
    import psycopg

    plain = cluster_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')  # name is ours: bench_<round>
    return cluster_url.rsplit("/", 1)[0] + "/" + name


def _resend_target(url: str, token: str) -> Target:
    return Target(url=url, method="POST", headers=(("Authorization", f"Bearer {token}"),))


def measure(
    subject: str,
    started: tuple[Server, Target],
    *,
    connections: list[int],
    seconds: float,
    warmup_seconds: float,
    tool: str,
) -> dict[str, Any]:
    """Startup, then load at each connection count (after a warm-up), with RSS after each."""
    server, target = started
    sample: dict[str, Any] = {"subject": subject, "startup_s": server.startup_s, "loads": []}
    if warmup_seconds > 0:
        run_load(target, connections=max(connections), seconds=warmup_seconds, tool=tool)
    for count in connections:
        cpu_before = server.cpu_seconds()
        result = run_load(target, connections=count, seconds=seconds, tool=tool)
        cpu = server.cpu_seconds() - cpu_before
        requests = result.requests
        sample["loads"].append(
            {
                **result.as_dict(),
                "ok": result.ok,
                "rss_mb": server.rss_mb(),
                # CPU per answer: less sensitive than req/s to other work on shared cores
                "cpu_ms_per_request": cpu * 1000 / requests if requests else None,
            }
        )
    sample["peak_rss_mb"] = server.peak_rss_mb()
    return sample
