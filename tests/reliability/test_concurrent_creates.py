"""100 concurrent creates of one e-mail address against the live service, SQLite and PostgreSQL.

The addresses differ only in case, so the database's unique constraint on the normalised address
is what decides, not a check-then-insert in the service. Whatever the interleaving: exactly one
200, every other answer the published duplicate 400 (never a 500), one user, one invitation, one
queued mail.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from authsvc.db.models import Invitation, OutboxMessage, User
from tests.reliability.conftest import ServeFactory
from tests.reliability.support import API, bearer
from tests.support.contract_check import assert_documented, example_of

REQUESTS = 100
EMAIL = "dora.duplicate@example.com"
VARIANTS = [EMAIL, EMAIL.upper(), "Dora.Duplicate@Example.com", EMAIL.capitalize()]


async def burst(url: str, headers: dict[str, str], bodies: list[Any]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(bodies), max_keepalive_connections=len(bodies))
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        return list(
            await asyncio.gather(*(client.post(url, headers=headers, json=b) for b in bodies))
        )


def test_concurrent_creates__same_email__exactly_one_user(serve: ServeFactory) -> None:
    with serve() as service:
        demo = service.demo
        headers = bearer(demo["admin_token"])
        subroles = httpx.get(
            f"{service.base_url}{API}/customers/{demo['customer_id']}/subroles", headers=headers
        ).json()["data"]
        (cro,) = [
            {k: s[k] for k in ("id", "code", "label")} for s in subroles if s["code"] == "cro"
        ]
        bodies = [
            {"first_name": "Dora", "last_name": f"No{i}", "email": VARIANTS[i % 4], "subrole": cro}
            for i in range(REQUESTS)
        ]
        url = f"{service.base_url}{API}/customers/{demo['customer_id']}/users"
        started = time.monotonic()
        responses = asyncio.run(burst(url, headers, bodies))
        seconds = time.monotonic() - started
        statuses = Counter(r.status_code for r in responses)
        print(f"\n{REQUESTS} concurrent creates of one address in {seconds:.2f}s: {dict(statuses)}")

        assert statuses == {200: 1, 400: REQUESTS - 1}, dict(statuses)
        duplicate = example_of(400, "users.create_customer_user")
        assert all(assert_documented(r) == duplicate for r in responses if r.status_code == 400)
        (created,) = [r for r in responses if r.status_code == 200]
        user_id = assert_documented(created)["data"]["user_id"]
        with Session(service.engine) as session:
            users = session.scalars(select(User).where(func.lower(User.email) == EMAIL)).all()
            assert [str(u.id) for u in users] == [user_id]
            assert (
                session.scalar(
                    select(func.count(Invitation.id)).where(Invitation.user_id == users[0].id)
                )
                == 1
            )
            assert (
                session.scalar(
                    select(func.count(OutboxMessage.id)).where(
                        func.lower(OutboxMessage.recipient) == EMAIL
                    )
                )
                == 1
            )
