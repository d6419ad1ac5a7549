"""Suite 5: where a resend request's time goes, in-process (no HTTP, no load generator).

CPU microseconds per request for layers of the same request, measured in one process one after
the other: the bare Starlette baseline app, Connexion's stack with a trivial handler (`/healthz`,
one `SELECT 1`), the full resend request, the resend transaction called directly, and the bearer
check alone (a token seen before, and a first verification). Differences between rows say what each layer costs; the ASGI client's own cost
(httpx ASGITransport) is in every HTTP row alike.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from bench.baseline import build_app
from bench.service import RESEND, UNTHROTTLED

if TYPE_CHECKING:  # the app is imported only once the environment is set (unthrottled)
    from connexion import AsyncApp

    from authsvc.services.container import Services


def _cpu_us(call: Callable[[], Any], n: int) -> float:
    started = time.process_time()
    for _ in range(n):
        call()
    return (time.process_time() - started) / n * 1e6


async def _cpu_us_async(call: Callable[[], Awaitable[httpx.Response]], n: int) -> float:
    for _ in range(20):
        (await call()).raise_for_status()
    started = time.process_time()
    for _ in range(n):
        response = await call()
        if response.status_code != 200:
            raise RuntimeError(f"unexpected {response.status_code}: {response.text[:200]}")
    return (time.process_time() - started) / n * 1e6


@contextmanager
def in_process_service() -> Iterator[tuple[dict[str, Any], Services, AsyncApp, str]]:
    """The service app on a fresh demo data directory, unthrottled: demo info, services, app, path.

    Shared by this suite and `bench.profile_request`.
    """
    os.environ.update(UNTHROTTLED)
    from authsvc.config import load_settings
    from authsvc.factory import build_services, create_app

    with tempfile.TemporaryDirectory(prefix="authsvc-bench-") as data_dir:
        demo = subprocess.run(
            [
                str(Path(sys.executable).parent / "authsvc"),
                "demo",
                "--data-dir",
                data_dir,
                "--json",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        info = json.loads(demo.stdout)
        settings = load_settings(data_dir=Path(data_dir))
        services = build_services(settings)
        try:
            app = create_app(settings, services=services)
            path = RESEND.format(customer=info["customer_id"], user=info["invited_user_id"])
            yield info, services, app, path
        finally:
            services.close()


def measure_breakdown(*, requests: int, rounds: int) -> dict[str, Any]:
    """Median CPU us per request of each layer over `rounds`, interleaved."""
    from authsvc.db.engine import write_engine
    from authsvc.db.runner import run_in_transaction
    from authsvc.services.resend_invite import resend_invite

    samples: dict[str, list[float]] = {}
    with in_process_service() as (info, services, app, path):
        bearer = {"Authorization": f"Bearer {info['admin_token']}"}
        principal = services.authenticate(info["admin_token"])
        customer, user = uuid.UUID(info["customer_id"]), uuid.UUID(info["invited_user_id"])

        async def http_rows() -> dict[str, float]:
            base = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=build_app()), base_url="http://b"
            )
            svc = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s")
            async with base, svc:
                return {
                    "bare Starlette (baseline app)": await _cpu_us_async(
                        lambda: base.post(path, headers=bearer), requests
                    ),
                    "Connexion stack, trivial handler (GET /healthz)": await _cpu_us_async(
                        lambda: svc.get("/healthz"), requests
                    ),
                    "full resend request": await _cpu_us_async(
                        lambda: svc.post(path, headers=bearer), requests
                    ),
                }

        for _ in range(rounds):
            rows = asyncio.run(http_rows())
            rows["resend transaction alone (resend_invite, caller's thread)"] = _cpu_us(
                lambda: run_in_transaction(
                    write_engine(services.writes.engine),
                    lambda connection: resend_invite(
                        connection,
                        settings=services.settings,
                        sealer=services.sealer,
                        principal=principal,
                        customer_id=customer,
                        user_id=user,
                    ),
                ),
                requests,
            )
            rows["resend transaction via the writer thread (Transactions.call)"] = _cpu_us(
                lambda: services.writes.call(
                    resend_invite,
                    settings=services.settings,
                    sealer=services.sealer,
                    principal=principal,
                    customer_id=customer,
                    user_id=user,
                ),
                requests,
            )
            rows["bearer check, token seen before (verified-token cache)"] = _cpu_us(
                lambda: services.authenticate(info["admin_token"]), requests
            )

            def first_sight() -> None:
                services.tokens.verified.clear()
                services.authenticate(info["admin_token"])

            rows["bearer check, first sight (full RS256 verification)"] = _cpu_us(
                first_sight, requests
            )
            for name, value in rows.items():
                samples.setdefault(name, []).append(value)
    return {
        "requests_per_sample": requests,
        "samples_cpu_us": samples,
        "median_cpu_us": {name: statistics.median(values) for name, values in samples.items()},
    }
