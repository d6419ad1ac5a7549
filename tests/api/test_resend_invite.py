"""POST /customers/{customerID}/users/{userID}/resend-invite through the ASGI app, every response."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from authsvc.db.models import AuditEvent, Invitation, OutboxMessage, User, UserStatus
from authsvc.services.container import Services
from tests.support.contract_check import assert_documented, example_of

BASE = "/auth/api/v1"


def resend_url(customer_id: Any, user_id: Any) -> str:
    return f"{BASE}/customers/{customer_id}/users/{user_id}/resend-invite"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def db(services: Services) -> Session:
    return Session(services.engine)


def test_resend_invite__admin_gets_the_documented_200(
    client: TestClient, demo: dict[str, Any], services: Services
) -> None:
    response = client.post(
        resend_url(demo["customer_id"], demo["invited_user_id"]),
        headers=bearer(demo["admin_token"]),
    )
    assert response.status_code == 200
    assert assert_documented(response) == example_of(200)
    with db(services) as session:
        invitations = session.scalars(select(Invitation)).all()
        assert len(invitations) == 1
        assert invitations[0].revoked_at is None
        assert len(invitations[0].token_hash) == 64
        (message,) = session.scalars(select(OutboxMessage)).all()
        assert message.recipient == "ivy.invited@example.com"
        (event,) = session.scalars(select(AuditEvent)).all()
        assert (event.outcome, str(event.user_id)) == ("success", demo["invited_user_id"])


def test_resend_invite__second_resend_revokes_the_first(
    client: TestClient, demo: dict[str, Any], services: Services
) -> None:
    url = resend_url(demo["customer_id"], demo["invited_user_id"])
    for _ in range(2):
        assert client.post(url, headers=bearer(demo["admin_token"])).status_code == 200
    with db(services) as session:
        invitations = session.scalars(select(Invitation).order_by(Invitation.created_at)).all()
        assert [i.revoked_at is None for i in invitations] == [False, True]
        assert session.query(OutboxMessage).count() == 2


def test_resend_invite__platform_admin_may_act_for_any_customer(
    client: TestClient, demo: dict[str, Any]
) -> None:
    response = client.post(
        resend_url(demo["other_customer_id"], demo["other_invited_user_id"]),
        headers=bearer(demo["platform_admin_token"]),
    )
    assert response.status_code == 200


def test_resend_invite__onboarded_user_gets_the_seed_400_exactly(
    client: TestClient, demo: dict[str, Any], services: Services
) -> None:
    response = client.post(
        resend_url(demo["customer_id"], demo["active_user_id"]), headers=bearer(demo["admin_token"])
    )
    assert response.status_code == 400
    assert response.json() == example_of(400)
    with db(services) as session:
        assert session.query(OutboxMessage).count() == 0
        assert session.scalars(select(AuditEvent.outcome)).all() == ["UserAlreadyOnboarded"]


@pytest.mark.parametrize(
    "path",
    [
        resend_url("not-a-uuid", uuid.uuid4()),
        resend_url(uuid.uuid4(), "123"),
        resend_url(uuid.uuid4(), "%0A"),
        resend_url(uuid.uuid4(), uuid.uuid4()) + "?unexpected=1",
    ],
    ids=["bad-customer-id", "bad-user-id", "newline", "unknown-query-param"],
)
def test_resend_invite__malformed_input_gets_the_400_envelope(
    client: TestClient, demo: dict[str, Any], path: str
) -> None:
    response = client.post(path, headers=bearer(demo["admin_token"]))
    assert response.status_code == 400
    body = assert_documented(response)
    assert (body["errorCode"], body["data"]["errorName"]) == (
        "VALIDATION_ERROR",
        "RequestValidationError",
    )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer not.a.jwt"},
        {"Authorization": "Bearer " + "A" * 20000},
    ],
    ids=["missing", "empty-bearer", "basic-scheme", "garbage", "oversized"],
)
def test_resend_invite__without_a_valid_token_is_401(
    client: TestClient, demo: dict[str, Any], headers: dict[str, str]
) -> None:
    response = client.post(
        resend_url(demo["customer_id"], demo["invited_user_id"]), headers=headers
    )
    assert response.status_code == 401
    assert assert_documented(response) == {
        "message": "Unauthorized",
        "errorCode": "ERR_UNAUTHORIZED",
    }


def test_resend_invite__token_of_an_inactive_caller_is_401(
    client: TestClient, demo: dict[str, Any], services: Services
) -> None:
    with db(services) as session, session.begin():
        admin = session.scalars(select(User).where(User.email.startswith("ada."))).one()
        admin.status = UserStatus.INACTIVE
    response = client.post(
        resend_url(demo["customer_id"], demo["invited_user_id"]),
        headers=bearer(demo["admin_token"]),
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("token_key", "customer_key", "user_key"),
    [
        ("member_token", "customer_id", "invited_user_id"),
        ("other_admin_token", "customer_id", "invited_user_id"),
        ("admin_token", "other_customer_id", "other_invited_user_id"),
    ],
    ids=["member-without-permission", "admin-of-another-customer", "admin-on-foreign-path"],
)
def test_resend_invite__without_permission_is_403_and_queues_nothing(
    client: TestClient,
    demo: dict[str, Any],
    services: Services,
    token_key: str,
    customer_key: str,
    user_key: str,
) -> None:
    response = client.post(
        resend_url(demo[customer_key], demo[user_key]), headers=bearer(demo[token_key])
    )
    assert response.status_code == 403
    assert assert_documented(response) == {"message": "Forbidden", "errorCode": "ERR_FORBIDDEN"}
    with db(services) as session:
        assert session.query(OutboxMessage).count() == 0


@pytest.mark.parametrize(
    ("token_key", "customer", "user"),
    [
        ("admin_token", "customer_id", "other_invited_user_id"),
        ("admin_token", "customer_id", None),
        ("platform_admin_token", None, None),
    ],
    ids=["user-of-another-customer", "unknown-user", "unknown-customer"],
)
def test_resend_invite__unknown_target_is_404(
    client: TestClient,
    demo: dict[str, Any],
    token_key: str,
    customer: str | None,
    user: str | None,
) -> None:
    customer_id = demo[customer] if customer else uuid.uuid4()
    user_id = demo[user] if user else uuid.uuid4()
    response = client.post(resend_url(customer_id, user_id), headers=bearer(demo[token_key]))
    assert response.status_code == 404
    body = assert_documented(response)
    assert (body["status"], body["errorCode"]) == ("fail", "NOT_FOUND")


def test_resend_invite__too_many_resends_is_429_with_retry_after(
    client: TestClient, demo: dict[str, Any], services: Services
) -> None:
    url = resend_url(demo["customer_id"], demo["invited_user_id"])
    limit = services.settings.resend_limit
    statuses = [
        client.post(url, headers=bearer(demo["admin_token"])).status_code for _ in range(limit)
    ]
    assert statuses == [200] * limit
    response = client.post(url, headers=bearer(demo["admin_token"]))
    assert response.status_code == 429
    assert assert_documented(response)["errorCode"] == "RATE_LIMITED"
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= services.settings.resend_window_seconds
    with db(services) as session:
        assert session.query(OutboxMessage).count() == limit


def test_resend_invite__wrong_method_is_405_with_allow(
    client: TestClient, demo: dict[str, Any]
) -> None:
    response = client.get(resend_url(demo["customer_id"], demo["invited_user_id"]))
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert response.headers["content-type"] == "application/json"
    assert response.json()["errorCode"] == "METHOD_NOT_ALLOWED"


@pytest.mark.parametrize(
    "path", ["/nope", f"{BASE}/nope", "/auth"], ids=["root", "under-base", "prefix"]
)
def test_unknown_path__is_a_json_404(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json()["errorCode"] == "NOT_FOUND"
