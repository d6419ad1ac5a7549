"""Claims never override the database (issue 10, item 3), for every operation, through HTTP.

- A token whose `sub` is Globex's admin but whose `customer_id` says Acme is not a credential for
  anyone: 401 everywhere, no mail, nothing written. (Before: resend answered 200, mailed Acme's
  invitee, and audited an actor of another tenant.)
- A read-only member whose token says `platform_admin: true` and lists every permission is still a
  read-only member of their own customer: 403 for another customer and for writes. (Before: 200.)
- A token without a `customer_id` claim names no tenant: 401.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from authsvc.config import Settings
from authsvc.db.models import AuditEvent, Customer, Invitation, OutboxMessage, User
from authsvc.demo import DEMO
from authsvc.security.keys import load_or_create_dev_keys
from authsvc.security.tokens import TokenMinter
from authsvc.services.container import Services
from tests.support.lifecycle import BASE, bearer, db, new_user_body, users_url

EVERY_PERMISSION = ["users:read", "users:write", "users:resend-invite"]


@pytest.fixture
def mint(settings: Settings) -> Callable[..., str]:
    minter = TokenMinter(
        load_or_create_dev_keys(settings.data_dir),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )
    return minter.mint


def _calls(services: Services, customer: uuid.UUID, user: uuid.UUID) -> list[tuple[str, str, Any]]:
    return [
        ("POST", f"{users_url(customer, user)}/resend-invite", None),
        ("GET", users_url(customer), None),
        ("POST", users_url(customer), new_user_body(services, customer)),
        ("GET", users_url(customer, user), None),
        ("PATCH", users_url(customer, user), {"first_name": "Mallory"}),
        ("GET", f"{BASE}/customers/{customer}/subroles", None),
    ]


def _writes(services: Services) -> tuple[int, int, int, list[str]]:
    with db(services) as session:
        return (
            session.scalar(select(func.count()).select_from(Invitation)) or 0,
            session.scalar(select(func.count()).select_from(OutboxMessage)) or 0,
            session.scalar(select(func.count()).select_from(User)) or 0,
            sorted(u.first_name for u in session.scalars(select(User))),
        )


def test_claims__a_token_lying_about_its_tenant_is_401_everywhere(
    client: TestClient, demo: dict[str, Any], services: Services, mint: Callable[..., str]
) -> None:
    liar = mint(
        subject=DEMO.other_admin_user_id,  # Globex's admin...
        customer_id=DEMO.customer_id,  # ...claiming to be Acme's
        permissions=EVERY_PERMISSION,
    )
    before = _writes(services)
    for method, path, body in _calls(services, DEMO.customer_id, DEMO.invited_user_id):
        response = client.request(method, path, json=body, headers=bearer(liar))
        assert response.status_code == 401, (method, path, response.text)
    assert _writes(services) == before
    with db(services) as session:
        actors = {e.actor for e in session.scalars(select(AuditEvent))}
        assert actors <= {str(DEMO.other_admin_user_id)}
        outcomes = {e.outcome for e in session.scalars(select(AuditEvent))}
        assert outcomes <= {"Unauthorized"}


def test_claims__platform_admin_and_permission_claims_grant_nothing(
    client: TestClient, demo: dict[str, Any], services: Services, mint: Callable[..., str]
) -> None:
    boaster = mint(
        subject=DEMO.member_user_id,  # a cro of Acme: users:read only
        customer_id=DEMO.customer_id,
        permissions=EVERY_PERMISSION,
        platform_admin=True,
    )
    before = _writes(services)
    for method, path, _body in _calls(services, DEMO.other_customer_id, DEMO.other_invited_user_id):
        body = (
            _body
            if method != "POST" or "resend" in path
            else new_user_body(services, DEMO.other_customer_id)
        )
        response = client.request(method, path, json=body, headers=bearer(boaster))
        assert response.status_code == 403, (method, path, response.text)
    own = _calls(services, DEMO.customer_id, DEMO.invited_user_id)
    statuses = [
        client.request(m, p, json=b, headers=bearer(boaster)).status_code for m, p, b in own
    ]
    # resend, list, create, get, patch, subroles: reads only, as the stored subrole says.
    assert statuses == [403, 200, 403, 200, 403, 200]
    assert _writes(services) == before


def test_claims__a_token_without_customer_is_401(
    client: TestClient, demo: dict[str, Any], services: Services, mint: Callable[..., str]
) -> None:
    anonymous_tenant = mint(
        subject=DEMO.platform_admin_user_id, customer_id=None, platform_admin=True
    )
    for method, path, body in _calls(services, DEMO.customer_id, DEMO.invited_user_id):
        response = client.request(method, path, json=body, headers=bearer(anonymous_tenant))
        assert response.status_code == 401, (method, path)


def test_claims__the_stored_platform_flag_decides(
    client: TestClient, demo: dict[str, Any], services: Services, mint: Callable[..., str]
) -> None:
    modest = mint(  # the real platform admin, whose token claims nothing
        subject=DEMO.platform_admin_user_id, customer_id=DEMO.platform_customer_id
    )
    response = client.get(users_url(DEMO.other_customer_id), headers=bearer(modest))
    assert response.status_code == 200


def test_claims__users_of_an_inactive_customer_are_401(
    client: TestClient, demo: dict[str, Any], services: Services
) -> None:
    url = users_url(DEMO.customer_id)
    assert client.get(url, headers=bearer(demo["admin_token"])).status_code == 200
    with db(services) as session, session.begin():
        session.get_one(Customer, DEMO.customer_id).is_active = False
    assert client.get(url, headers=bearer(demo["admin_token"])).status_code == 401
