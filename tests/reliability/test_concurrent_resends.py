"""100 concurrent resends for one user against the live service, on SQLite and PostgreSQL.

Whatever the interleaving: every answer is 200 or 429 (never a 500), the rate limit holds exactly,
exactly one invitation is still valid, and there is one queued mail and one audit event per 200.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from authsvc.db.models import AuditEvent
from tests.reliability.conftest import ServeFactory
from tests.reliability.support import (
    bearer,
    invitations,
    outbox_count,
    pending_invitations,
    resend_path,
)

REQUESTS = 100


async def burst(url: str, headers: dict[str, str], count: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        return list(
            await asyncio.gather(*(client.post(url, headers=headers) for _ in range(count)))
        )


@pytest.mark.parametrize("limit", [10, REQUESTS], ids=["limit-10", "limit-not-reached"])
def test_concurrent_resends__one_user__only_200_or_429_and_one_valid_invitation(
    serve: ServeFactory, limit: int
) -> None:
    with serve(resend_limit=limit, resend_window_seconds=3600) as service:
        demo = service.demo
        url = service.base_url + resend_path(demo["customer_id"], demo["invited_user_id"])
        started = time.monotonic()
        responses = asyncio.run(burst(url, bearer(demo["admin_token"]), REQUESTS))
        seconds = time.monotonic() - started
        statuses = Counter(r.status_code for r in responses)
        print(f"\n{REQUESTS} concurrent resends in {seconds:.2f}s: {dict(statuses)}")

        assert set(statuses) <= {200, 429}, dict(statuses)
        assert statuses[200] == limit, "the rate limit did not hold under concurrency"
        assert all(
            r.headers.get("retry-after", "").isdigit() for r in responses if r.status_code == 429
        )
        engine = service.engine
        user_id = demo["invited_user_id"]
        assert pending_invitations(engine, user_id) == 1
        assert invitations(engine, user_id) == statuses[200]
        assert outbox_count(engine) == statuses[200]
        with Session(engine) as session:
            successes = session.scalar(
                select(func.count(AuditEvent.id)).where(AuditEvent.outcome == "success")
            )
        assert successes == statuses[200]
