"""After a burst beyond the database threads and an idle pause, every operation answers as before.

An operator saw the service die this way: a burst queued reads beyond the reader threads, the
threads retired during the quiet moment that followed, and from then on every read waited for
the request deadline (500, `/healthz` 503). The idle time is short here so the pause is too.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from authsvc.services.container import READ_THREADS
from tests.reliability.conftest import LiveService, ServeFactory
from tests.reliability.support import API, bearer, resend_path

IDLE_SECONDS = 0.2
BURST = 4 * READ_THREADS * 3  # far more concurrent requests than reader or writer threads


def requests(service: LiveService) -> list[tuple[str, str]]:
    demo = service.demo
    customer = demo["customer_id"]
    return [
        ("GET", f"{API}/customers/{customer}/users/{demo['active_user_id']}"),
        ("GET", f"{API}/customers/{customer}/users"),
        ("POST", resend_path(customer, demo["invited_user_id"])),
        ("GET", "/healthz"),
    ]


async def statuses(service: LiveService, count: int) -> list[int]:
    headers = bearer(service.demo["admin_token"])
    calls = requests(service)
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(base_url=service.base_url, timeout=30, limits=limits) as client:
        answers = await asyncio.gather(
            *(
                client.request(method, path, headers=headers)
                for method, path in (calls[n % len(calls)] for n in range(count))
            )
        )
    return [answer.status_code for answer in answers]


def test_burst_then_idle_pause__every_operation_answers_as_before(serve: ServeFactory) -> None:
    with serve(db_thread_idle_seconds=IDLE_SECONDS, resend_limit=100_000) as service:
        assert asyncio.run(statuses(service, len(requests(service)))) == [200] * 4
        assert set(asyncio.run(statuses(service, BURST))) == {200}
        time.sleep(IDLE_SECONDS * 10)  # every database thread retires
        assert asyncio.run(statuses(service, len(requests(service)))) == [200] * 4
        # and again, a second burst and pause: the pool is back where it started
        assert set(asyncio.run(statuses(service, BURST))) == {200}
        time.sleep(IDLE_SECONDS * 10)
        assert asyncio.run(statuses(service, len(requests(service)))) == [200] * 4
