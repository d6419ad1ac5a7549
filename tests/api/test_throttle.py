"""The one throttle over HTTP, on SQLite and PostgreSQL: accept per client address (issue 18, item
4) and invitation mails per customer (item 11).

Each limit answers its documented 429 with `Retry-After` past its ceiling, leaves other keys
alone, and holds across two apps on one database (what two processes or instances share).
`X-Forwarded-For` counts only from a configured trusted proxy.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from connexion import AsyncApp
from sqlalchemy import func, select
from starlette.testclient import TestClient
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from authsvc.config import Settings, load_settings
from authsvc.db.engine import write_engine
from authsvc.db.models import OutboxMessage, User, UserStatus
from authsvc.db.types import utcnow
from authsvc.factory import build_services, create_app
from authsvc.services.container import Services
from authsvc.services.invitations import issue_invitation
from authsvc.services.limits import address_key
from authsvc.web.http_server import uvicorn_config
from tests.support.contract_check import assert_documented, example_of
from tests.support.lifecycle import (
    ACCEPT,
    CREATE,
    GOOD_PASSWORD,
    RESEND,
    accept_url,
    bearer,
    db,
    invite_token_in,
    mail_to,
    new_user_body,
    user_row,
    users_url,
)

ACCEPT_LIMIT = 3
MAIL_LIMIT = 2
WINDOW = 600
PEER = "203.0.113.9"
PROXY = "10.0.0.2"


def settings_with(tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "test",
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        "app_url": "https://app.example.test",
        "accept_limit": ACCEPT_LIMIT,
        "accept_window_seconds": WINDOW,
        "invite_mail_limit": MAIL_LIMIT,
        "invite_mail_window_seconds": WINDOW,
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Overrides the conftest fixture: low limits, so that each test reaches them."""
    return settings_with(tmp_path, database_url)


def client_at(app: AsyncApp, address: str) -> TestClient:
    """A client whose requests come from `address` (the TCP peer the app sees)."""
    return TestClient(app, client=(address, 50000))


def random_accept(client: TestClient, **headers: str) -> Any:
    """An accept that passes the password rules with a token nobody issued: 400, or 429."""
    return client.post(
        accept_url(secrets.token_urlsafe(32)), json={"password": GOOD_PASSWORD}, headers=headers
    )


def statuses(responses: list[Any]) -> list[int]:
    return [r.status_code for r in responses]


def assert_accept_429(response: Any) -> int:
    assert response.status_code == 429
    assert assert_documented(response, ACCEPT) == example_of(429, ACCEPT)
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= WINDOW
    return retry_after


def test_accept__429_with_retry_after_past_the_ceiling_and_only_for_that_address(
    app: AsyncApp, client: TestClient, services: Services, demo: dict[str, Any]
) -> None:
    user_id = create_user(client, services, demo, 0).json()["data"]["user_id"]
    (mail,) = mail_to(services, "new.user0@example.com")
    real = {"password": GOOD_PASSWORD}
    attacker, neighbour = client_at(app, PEER), client_at(app, "203.0.113.10")
    answers = [random_accept(attacker) for _ in range(ACCEPT_LIMIT)]
    assert statuses(answers) == [400] * ACCEPT_LIMIT  # INVALID_INVITATION, each one hashed
    assert_accept_429(random_accept(attacker))
    # A real invitation from that address waits too: refused before any lookup, nothing used up.
    assert_accept_429(attacker.post(accept_url(invite_token_in(mail)), json=real))
    assert user_row(services, user_id).status is UserStatus.INVITED
    # The password rules come first and cost nothing: still their 400.
    weak = attacker.post(accept_url(secrets.token_urlsafe(32)), json={"password": "weak"})
    assert weak.status_code == 400
    # Another address is not affected.
    assert random_accept(neighbour).status_code == 400
    assert neighbour.post(accept_url(invite_token_in(mail)), json=real).status_code == 200


def test_accept__ipv6_addresses_share_a_limit_per_64(app: AsyncApp) -> None:
    first, same_64, other_64 = "2001:db8:1:2::1", "2001:db8:1:2:ffff::9", "2001:db8:1:3::1"
    assert address_key(first) == address_key(same_64) == "2001:db8:1:2::/64"
    assert address_key("::ffff:203.0.113.9") == "203.0.113.9"
    for n in range(ACCEPT_LIMIT):
        assert random_accept(client_at(app, first if n % 2 else same_64)).status_code == 400
    assert_accept_429(random_accept(client_at(app, same_64)))
    assert random_accept(client_at(app, other_64)).status_code == 400


def test_accept__x_forwarded_for_is_ignored_without_a_trusted_proxy(app: AsyncApp) -> None:
    client = client_at(app, PEER)
    answers = [
        random_accept(client, **{"X-Forwarded-For": f"198.51.100.{n}"})
        for n in range(ACCEPT_LIMIT + 1)
    ]
    assert statuses(answers[:ACCEPT_LIMIT]) == [400] * ACCEPT_LIMIT
    assert_accept_429(answers[-1])  # one peer, one limit, whatever it claims


@pytest.mark.parametrize("trusted", ["10.0.0.2", "10.0.0.0/8"], ids=["address", "network"])
def test_accept__x_forwarded_for_names_the_client_behind_a_trusted_proxy(
    tmp_path: Path, database_url: str, demo: dict[str, Any], trusted: str
) -> None:
    settings = settings_with(tmp_path, database_url, trusted_proxies=f"{trusted}, 192.0.2.1")
    services = build_services(settings)
    try:
        app = create_app(settings, services=services)
        proxy = client_at(app, PROXY)
        alice = {"X-Forwarded-For": "198.51.100.1"}
        answers = [random_accept(proxy, **alice) for _ in range(ACCEPT_LIMIT)]
        assert statuses(answers) == [400] * ACCEPT_LIMIT
        assert_accept_429(random_accept(proxy, **alice))
        # Another client behind the same proxy has its own limit.
        assert random_accept(proxy, **{"X-Forwarded-For": "198.51.100.2"}).status_code == 400
        # Read from the right: a hop the client wrote itself (left of the one the proxy
        # appended) changes nothing, and further trusted proxies are skipped.
        spoofed = {"X-Forwarded-For": "198.51.100.77, 198.51.100.1"}
        assert_accept_429(random_accept(proxy, **spoofed))
        chained = {"X-Forwarded-For": "198.51.100.1, 192.0.2.1"}
        assert_accept_429(random_accept(proxy, **chained))
        # A peer that is not a trusted proxy is the client, whatever it claims.
        stranger = client_at(app, PEER)
        assert random_accept(stranger, **alice).status_code == 400
    finally:
        services.close()


@contextmanager
def two_apps(settings: Settings) -> Iterator[tuple[AsyncApp, AsyncApp]]:
    """Two apps on one database, each with its own engine and database threads: two processes'
    worth of the service, as far as the database can tell."""
    first, second = build_services(settings), build_services(settings)
    try:
        yield create_app(settings, services=first), create_app(settings, services=second)
    finally:
        first.close()
        second.close()


def test_accept__the_limit_holds_across_two_apps_on_one_database(
    settings: Settings, demo: dict[str, Any]
) -> None:
    with two_apps(settings) as (one, two):
        clients = [client_at(one, PEER), client_at(two, PEER)]
        answers = [random_accept(clients[n % 2]) for n in range(ACCEPT_LIMIT)]
        assert statuses(answers) == [400] * ACCEPT_LIMIT
        for client in clients:
            assert_accept_429(random_accept(client))


def create_user(client: TestClient, services: Services, demo: dict[str, Any], n: int) -> Any:
    body = new_user_body(services, demo["customer_id"], email=f"new.user{n}@example.com")
    return client.post(
        users_url(demo["customer_id"]), json=body, headers=bearer(demo["admin_token"])
    )


def users_and_mails(services: Services) -> tuple[int, int]:
    with db(services) as session:
        return (
            int(session.scalar(select(func.count(User.id))) or 0),
            int(session.scalar(select(func.count(OutboxMessage.id))) or 0),
        )


def test_create__429_past_the_customers_invitation_mails_and_nothing_created(
    client: TestClient, services: Services, demo: dict[str, Any]
) -> None:
    created = [create_user(client, services, demo, n) for n in range(MAIL_LIMIT)]
    assert statuses(created) == [200] * MAIL_LIMIT
    before = users_and_mails(services)
    refused = create_user(client, services, demo, MAIL_LIMIT)
    assert refused.status_code == 429
    assert assert_documented(refused, CREATE) == example_of(429, CREATE)
    assert 1 <= int(refused.headers["Retry-After"]) <= WINDOW
    assert users_and_mails(services) == before  # no user, no invitation, no mail
    # Resend counts against the same limit, and keeps its own published 429 body.
    user_id = created[0].json()["data"]["user_id"]
    resend = client.post(
        f"{users_url(demo['customer_id'], user_id)}/resend-invite",
        headers=bearer(demo["admin_token"]),
    )
    assert resend.status_code == 429
    assert assert_documented(resend, RESEND) == example_of(429, RESEND)
    # Another customer's admin is not affected.
    other = new_user_body(services, demo["other_customer_id"], email="o.user@example.com")
    answer = client.post(
        users_url(demo["other_customer_id"]), json=other, headers=bearer(demo["other_admin_token"])
    )
    assert answer.status_code == 200


def test_resend__counts_against_the_customers_invitation_mails(
    client: TestClient, services: Services, demo: dict[str, Any]
) -> None:
    resend = f"{users_url(demo['customer_id'], demo['invited_user_id'])}/resend-invite"
    answers = [
        client.post(resend, headers=bearer(demo["admin_token"])) for _ in range(MAIL_LIMIT + 1)
    ]
    assert statuses(answers) == [200] * MAIL_LIMIT + [429]
    assert create_user(client, services, demo, 0).status_code == 429


def test_create__the_limit_holds_across_two_apps_on_one_database(
    settings: Settings, services: Services, demo: dict[str, Any]
) -> None:
    with two_apps(settings) as (one, two):
        clients = [TestClient(one), TestClient(two)]
        answers = [create_user(clients[n % 2], services, demo, n) for n in range(MAIL_LIMIT)]
        assert statuses(answers) == [200] * MAIL_LIMIT
        for n, client in enumerate(clients):
            assert create_user(client, services, demo, MAIL_LIMIT + n).status_code == 429


def test_serve__the_server_itself_believes_no_forwarded_header(app: AsyncApp) -> None:
    """uvicorn would trust X-Forwarded-For from 127.0.0.1 on its own: `authsvc serve` turns it off."""
    config = uvicorn_config(app, host="127.0.0.1", port=0, limits=load_settings().http_limits)
    config.load()
    layer: Any = config.loaded_app
    while layer is not None and layer is not app:
        assert not isinstance(layer, ProxyHeadersMiddleware)
        layer = getattr(layer, "app", None)


def test_issue_invitation__uncounted_for_the_operators_bootstrap(
    client: TestClient, services: Services, demo: dict[str, Any]
) -> None:
    """The production bootstrap (to come) invites its first admin outside the customer's limit."""
    created = [create_user(client, services, demo, n) for n in range(MAIL_LIMIT)]
    assert statuses(created) == [200] * MAIL_LIMIT
    before = users_and_mails(services)[1]
    with write_engine(services.engine).begin() as connection:
        issue_invitation(
            connection,
            services.settings,
            created_by="bootstrap",
            customer_id=uuid.UUID(demo["customer_id"]),
            user_id=uuid.UUID(demo["invited_user_id"]),
            email="invited@example.com",
            first_name="Ivy",
            customer_name="Acme Corp",
            now=utcnow(),
            counted=False,
        )
    assert users_and_mails(services)[1] == before + 1
    assert create_user(client, services, demo, MAIL_LIMIT).status_code == 429  # still full
