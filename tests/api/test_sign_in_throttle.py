"""Sign-in on the one throttle, over HTTP on SQLite and PostgreSQL.

Per submitted e-mail, known or not, a progressive delay after a few free failures; per client
address, a ceiling on failures. Each answers the documented 429 with `Retry-After` before any
password work, and a success takes the count back. Time is moved by rewriting the stored events,
never by waiting.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from connexion import AsyncApp
from sqlalchemy import select, update
from starlette.testclient import TestClient

from authsvc.config import Settings
from authsvc.db.models import User, throttle_events_table
from authsvc.demo import DEMO
from authsvc.security.passwords import hash_password
from authsvc.services.container import Services
from tests.api.test_throttle import client_at, settings_with
from tests.support.contract_check import assert_documented, example_of
from tests.support.lifecycle import BASE, GOOD_PASSWORD, db

SIGN_IN = "sign_in.customer_sign_in"
ADA = "ada.admin@example.com"
FREE = 3
BASE_DELAY = 600  # long enough that no test run outlasts it: no wall-clock dependence
ADDRESS_LIMIT = 8
PEER = "203.0.113.9"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return settings_with(
        tmp_path,
        database_url,
        sign_in_free_failures=FREE,
        sign_in_backoff_base_seconds=BASE_DELAY,
        sign_in_backoff_cap_seconds=4 * BASE_DELAY,
        sign_in_quiet_seconds=3600,
        sign_in_address_limit=ADDRESS_LIMIT,
        sign_in_address_window_seconds=3600,
    )


@pytest.fixture
def ada(services: Services, demo: dict[str, Any]) -> None:
    with db(services) as session, session.begin():
        session.get_one(User, DEMO.admin_user_id).password_hash = hash_password(GOOD_PASSWORD)


def sign_in(client: TestClient, email: str = ADA, password: str = GOOD_PASSWORD + "x") -> Any:
    return client.post(f"{BASE}/customer/sign-in", json={"email": email, "password": password})


def assert_429(response: Any) -> int:
    assert response.status_code == 429, response.text
    assert assert_documented(response, SIGN_IN) == example_of(429, SIGN_IN)
    return int(response.headers["Retry-After"])


def age_events(services: Services, seconds: int) -> None:
    """Every counted event happened `seconds` earlier (as if the client had waited)."""
    events, earlier = throttle_events_table, timedelta(seconds=seconds)
    with db(services) as session, session.begin():
        for row in session.execute(select(events.c.id, events.c.at, events.c.expires_at)).all():
            session.execute(
                update(events)
                .where(events.c.id == row.id)
                .values(at=row.at - earlier, expires_at=row.expires_at - earlier)
            )


def test_sign_in__free_failures_then_a_doubling_delay_for_that_email(
    app: AsyncApp, services: Services, ada: None
) -> None:
    client = client_at(app, PEER)
    assert [sign_in(client).status_code for _ in range(FREE)] == [400] * FREE
    first_wait = assert_429(sign_in(client))
    assert BASE_DELAY - 60 <= first_wait <= BASE_DELAY
    # The right password waits too: refused before it is checked.
    assert_429(sign_in(client, password=GOOD_PASSWORD))
    age_events(services, BASE_DELAY + 1)  # the delay ran out: one more try, then twice as long
    assert sign_in(client).status_code == 400
    second_wait = assert_429(sign_in(client))
    assert 2 * BASE_DELAY - 60 <= second_wait <= 2 * BASE_DELAY
    # Another e-mail from the same address is not delayed.
    assert sign_in(client, "abe.active@example.com").status_code == 400


def test_sign_in__an_unknown_email_is_delayed_alike(app: AsyncApp, ada: None) -> None:
    """The 429 says nothing about the address: an unknown e-mail gets the same bytes."""
    one, other = client_at(app, PEER), client_at(app, "203.0.113.10")
    known = [sign_in(one) for _ in range(FREE + 1)]
    unknown = [sign_in(other, "nobody.here@example.com") for _ in range(FREE + 1)]
    assert (
        [r.status_code for r in known] == [r.status_code for r in unknown] == [400] * FREE + [429]
    )
    assert known[-1].content == unknown[-1].content
    assert known[-1].headers["Retry-After"] == unknown[-1].headers["Retry-After"]


def test_sign_in__a_success_forgets_the_failures(app: AsyncApp, ada: None) -> None:
    client = client_at(app, PEER)
    for _ in range(2):
        assert [sign_in(client).status_code for _ in range(FREE - 1)] == [400] * (FREE - 1)
        assert sign_in(client, password=GOOD_PASSWORD).status_code == 200
    assert [sign_in(client).status_code for _ in range(FREE)] == [400] * FREE
    assert_429(sign_in(client))


def test_sign_in__a_ceiling_on_failures_per_client_address(app: AsyncApp, ada: None) -> None:
    attacker, neighbour = client_at(app, PEER), client_at(app, "203.0.113.10")
    emails = [f"guess{n}@example.com" for n in range(ADDRESS_LIMIT)]
    assert [sign_in(attacker, e).status_code for e in emails] == [400] * ADDRESS_LIMIT
    wait = assert_429(sign_in(attacker, "guess-next@example.com"))
    assert 1 <= wait <= 3600
    assert_429(sign_in(attacker, password=GOOD_PASSWORD))  # even the owner, from there
    assert sign_in(neighbour, password=GOOD_PASSWORD).status_code == 200
