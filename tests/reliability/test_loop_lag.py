"""The event loop never waits on the database: a live `authsvc serve` answers requests that need
no database at once while its writers are stuck, on SQLite and on PostgreSQL.

Another connection holds the write lock (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: `SELECT ... FOR
UPDATE` on the invited user's row) for HOLD_SECONDS while 100 resends for that user are in flight.
Meanwhile `GET /openapi.json`, a resend without a token (401) and `/healthz` (a read, which neither
lock blocks) are sent one at a time; each answer's latency bounds the server's loop lag from above.
Every resend must end with a documented answer: 200, 429, or the 500 at its deadline.

Before the single write path, the same run took 1.9 s and 3.8 s to answer the first two (issue 9):
SQLite resends ran on the loop whenever the lock looked free, and 100 of them in threads exhausted
the connection pool, so the loop then waited for a pooled connection.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg

from tests.reliability.support import API, bearer, resend_path
from tests.support.processes import free_port, run_demo, running

HOLD_SECONDS = 4.0
RESENDS = 100
# The bound is 50 ms; a shared 2-core machine may pause any process for longer now and
# then (one probe in a full-suite run at load average 8 took 0.32 s, the others under 20 ms), so
# the median must meet it and every single answer a generous multiple of it. The code before this
# design missed both by far more: 5 to 10 s.
MEDIAN_BOUND_S = 0.050
EACH_BOUND_S = 0.500
# The 100 resends are parsed and authenticated on the loop (CPU, about 1 ms each) before they
# wait for the writer: probing starts once that is surely over, even on a loaded machine.
PROBE_AFTER_S = 1.0
DB_TIMEOUT_S = 5.0  # the default; the request deadline is twice that
INTERNAL_ERROR = {"message": "Internal Server Error", "errorCode": "ERR_INTERNAL_SERVER"}


@contextmanager
def write_lock_held(database_url: str, user_id: str) -> Iterator[None]:
    """Another connection holding what every resend of `user_id` must wait for."""
    if database_url.startswith("sqlite"):
        sqlite = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            sqlite.execute("BEGIN IMMEDIATE")
            yield
            sqlite.rollback()
        finally:
            sqlite.close()
        return
    plain = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain) as pg:
        locked = pg.execute("SELECT id FROM users WHERE id = %s FOR UPDATE", (user_id,)).fetchall()
        assert len(locked) == 1
        yield
        pg.rollback()


async def burst(url: str, token: str) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=RESENDS, max_keepalive_connections=RESENDS)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        return list(
            await asyncio.gather(*(client.post(url, headers=bearer(token)) for _ in range(RESENDS)))
        )


def probe(
    base_url: str, resend: str, until: float, *, read: tuple[str, str] | None = None
) -> dict[str, list[float]]:
    """Latency of each database-free request (and /healthz), one at a time, until `until`.

    `read` (a path and a bearer token) adds an authenticated read of the database.
    """
    requests: dict[str, tuple[str, str, int, dict[str, str]]] = {
        "openapi.json": ("GET", f"{API}/openapi.json", 200, {}),
        "no token (401)": ("POST", resend, 401, {}),
        "healthz": ("GET", "/healthz", 200, {}),
    }
    if read is not None:
        requests["authenticated read"] = ("GET", read[0], 200, bearer(read[1]))
    latencies: dict[str, list[float]] = {name: [] for name in requests}
    with httpx.Client(base_url=base_url, timeout=30) as client:
        while not latencies["healthz"] or time.monotonic() < until:
            for name, (method, path, status, headers) in requests.items():
                started = time.perf_counter()
                response = client.request(method, path, headers=headers)
                latencies[name].append(time.perf_counter() - started)
                assert response.status_code == status, (name, response.status_code)
            time.sleep(0.05)
    return latencies


def test_loop_lag__write_lock_held_and_100_resends_waiting__other_requests_answer_at_once(
    tmp_path: Path, database_url: str
) -> None:
    port = free_port()
    data_dir = tmp_path / "data"
    settings = {
        "AUTHSVC_DATABASE_URL": database_url,
        "AUTHSVC_DB_TIMEOUT_SECONDS": str(DB_TIMEOUT_S),
        "AUTHSVC_RESEND_LIMIT": "20",
        "AUTHSVC_RESEND_WINDOW_SECONDS": "3600",
    }
    args = ["serve", "--data-dir", str(data_dir), "--port", str(port)]
    with running(
        args, log_path=tmp_path / "serve.log", settings=settings, port=port, ready_path="/healthz"
    ) as service:
        demo = json.loads(run_demo(data_dir, service.base_url, settings))
        resend = resend_path(demo["customer_id"], demo["invited_user_id"])
        probed: dict[str, list[float]] = {}
        probe(service.base_url, resend, 0)  # one of each first: the spec's JSON is built once

        with write_lock_held(database_url, demo["invited_user_id"]):
            held_at = time.monotonic()

            def measure() -> None:
                time.sleep(PROBE_AFTER_S)  # the 100 resends are waiting for the writer by now
                probed.update(probe(service.base_url, resend, held_at + HOLD_SECONDS - 0.3))

            prober = threading.Thread(target=measure)
            prober.start()
            loop = asyncio.new_event_loop()
            sent = loop.create_task(burst(service.base_url + resend, demo["admin_token"]))
            loop.run_until_complete(
                asyncio.sleep(max(0.0, HOLD_SECONDS - (time.monotonic() - held_at)))
            )
            prober.join(30)
        responses = loop.run_until_complete(sent)
        loop.close()

    statuses = Counter(r.status_code for r in responses)
    summary = {
        name: f"median {statistics.median(v) * 1000:.1f} ms, max {max(v) * 1000:.1f} ms, n={len(v)}"
        for name, v in probed.items()
    }
    print(f"\nlock held {HOLD_SECONDS:.0f}s, {RESENDS} resends {dict(statuses)}; {summary}")
    assert set(probed) == {"openapi.json", "no token (401)", "healthz"}
    for name, latencies in probed.items():
        assert len(latencies) >= 10, name
        assert statistics.median(latencies) < MEDIAN_BOUND_S, summary
        assert max(latencies) < EACH_BOUND_S, summary
    assert set(statuses) <= {200, 429, 500}, dict(statuses)
    assert statuses[200] + statuses[429] > 0  # the writers got through once the lock was free
    for response in responses:
        if response.status_code == 500:
            assert response.json() == INTERNAL_ERROR
