"""Forgot and reset password end to end over HTTP, on SQLite and PostgreSQL, with real SMTP.

The service runs under uvicorn with its delivery loop; mail goes to aiosmtpd on loopback. forgot
-> mail -> reset -> the old password is refused, the new one accepted, every earlier token
refused; a reset link works once; a second forgot revokes the first link; forgot for an unknown,
INVITED or INACTIVE address answers the same 200 and sends nothing. Every answer is checked
against the contract.
"""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from authsvc.db.models import (
    AuditEvent,
    OutboxMessage,
    UserStatus,
    password_resets_table,
    users_table,
)
from authsvc.db.types import utcnow
from authsvc.demo import DEMO
from authsvc.security.passwords import hash_password
from authsvc.services.forgot_password import hash_reset_token
from tests.api.test_lifecycle_e2e import GOOD_PASSWORD, Lifecycle, lifecycle  # noqa: F401
from tests.support.contract_check import assert_documented, example_of

ADA = "ada.admin@example.com"
NEW_PASSWORD = "N3w-Staple-Battery"
RESET_LINK = re.compile(r"https://app\.example\.test/reset-password\?token=([A-Za-z0-9_\-]+)")
SIGN_IN, REFRESH = "sign_in.customer_sign_in", "sign_in.refresh_customer_token"
FORGOT, RESET = "sign_in.forgot_password", "sign_in.reset_password"
EXPIRED_LINK = {
    "status": "fail",
    "message": "This reset password link has expired",
    "errorCode": "INVALID",
    "data": {"errorName": "SignInApiError"},
}


@pytest.fixture
def lc(lifecycle: Lifecycle) -> Lifecycle:  # noqa: F811 (the fixture imported above)
    return lifecycle


def set_password(lc: Lifecycle, user_id: Any, *, status: UserStatus | None = None) -> None:
    values: dict[str, Any] = {"password_hash": hash_password(GOOD_PASSWORD)}
    if status is not None:
        values["status"] = status
    with lc.service.engine.begin() as connection:
        connection.execute(update(users_table).where(users_table.c.id == user_id).values(values))


def sign_in(lc: Lifecycle, password: str, email: str = ADA) -> Any:
    return lc.call("POST", "/customer/sign-in", body={"email": email, "password": password})


def forgot(lc: Lifecycle, email: str = ADA) -> bytes:
    response = lc.call("POST", "/forgot-password", body={"email": email})
    assert response.status_code == 200, response.text
    assert assert_documented(response, FORGOT) == example_of(200, FORGOT)
    return response.content


def reset(lc: Lifecycle, token: str, password: str = NEW_PASSWORD) -> Any:
    return lc.call("POST", "/reset-password", body={"reset_token": token, "password": password})


def mails_to(lc: Lifecycle, recipient: str, subject: str, count: int) -> list[str]:
    """The text parts of the first `count` mails with `subject` SMTP received for `recipient`."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        texts = [
            part.get_content()
            for r in list(lc.smtp.received)
            if r.rcpt_tos == [recipient] and r.message["Subject"] == subject
            for part in [r.message.get_body(("plain",))]
            if part is not None
        ]
        if len(texts) >= count:
            return texts[:count]
        time.sleep(0.05)
    raise AssertionError(f"{count} mail(s) {subject!r} for {recipient} did not arrive")


def reset_tokens(lc: Lifecycle, count: int) -> list[str]:
    tokens = []
    for text in mails_to(lc, ADA, "Reset your password", count):
        (token,) = set(RESET_LINK.findall(text))
        assert len(token) == 43
        tokens.append(token)
    return tokens


def _set_verified(lc: Lifecycle, *, verified: bool) -> None:
    with lc.service.engine.begin() as connection:
        connection.execute(
            update(users_table)
            .where(users_table.c.id == DEMO.admin_user_id)
            .values(is_email_verified=verified)
        )


def outbox_count(lc: Lifecycle, recipient: str) -> int:
    with lc.service.engine.connect() as connection:
        statement = select(func.count()).where(OutboxMessage.recipient == recipient)
        return int(connection.scalar(statement) or 0)


def test_forgot_reset__old_password_refused__new_accepted__every_earlier_token_refused(
    lc: Lifecycle,
) -> None:
    set_password(lc, DEMO.admin_user_id)
    _set_verified(lc, verified=False)  # as after an admin changed the address
    sessions = [assert_documented(sign_in(lc, GOOD_PASSWORD))["data"] for _ in range(2)]
    users = f"/customers/{DEMO.customer_id}/users"
    assert lc.call("GET", users, sessions[0]["id_token"]).status_code == 200

    forgot(lc, "Ada.Admin@Example.COM")  # compared case-insensitively
    (token,) = reset_tokens(lc, 1)
    # The password rules come first: a weak password leaves the link usable.
    weak = reset(lc, token, "weak")
    assert weak.status_code == 400
    assert assert_documented(weak, RESET)["data"] == {"errorName": "ValidationMiddlewareError"}
    done = reset(lc, token)
    assert done.status_code == 200, done.text
    assert assert_documented(done, RESET) == example_of(200, RESET)
    assert "data" not in done.json()  # no tokens: not signed in

    for session in sessions:  # every earlier token of every session is dead
        assert lc.call("GET", users, session["id_token"]).status_code == 401
        refreshed = lc.call("POST", "/refresh-token/customer", body=session)
        assert refreshed.status_code == 400
        assert assert_documented(refreshed, REFRESH)["errorCode"] == "INVALID"
    refused = sign_in(lc, GOOD_PASSWORD)
    assert refused.status_code == 400
    assert assert_documented(refused, SIGN_IN) == example_of(400, SIGN_IN)
    fresh = sign_in(lc, NEW_PASSWORD)
    assert fresh.status_code == 200, fresh.text
    # The link came to the address: resetting through it verifies the address.
    assert fresh.json()["data"]["user_details"]["is_email_verified"] is True
    assert lc.call("GET", users, fresh.json()["data"]["id_token"]).status_code == 200

    (notice,) = mails_to(lc, ADA, "Your password was changed", 1)
    assert "was changed" in notice
    assert token not in notice
    # Single use: the same link again is the published 400, and sets nothing.
    again = reset(lc, token, "An0ther-Password!")
    assert again.status_code == 400
    assert assert_documented(again, RESET) == EXPIRED_LINK
    assert sign_in(lc, NEW_PASSWORD).status_code == 200
    assert_stored_hashed_and_audited(lc, token)


def assert_stored_hashed_and_audited(lc: Lifecycle, token: str) -> None:
    """The link is stored as its SHA-256 only; the audit names both steps, never the address."""
    with lc.service.engine.connect() as connection:
        rows = [tuple(map(str, r)) for r in connection.execute(select(password_resets_table))]
        events = connection.execute(
            select(AuditEvent.action, AuditEvent.outcome, AuditEvent.detail).where(
                AuditEvent.action.in_(["password.reset_requested", "password.reset"])
            )
        ).all()
    assert not [r for r in rows if any(token in value for value in r)]
    assert [r for r in rows if hash_reset_token(token) in r]
    assert {(e.action, e.outcome) for e in events} == {
        ("password.reset_requested", "success"),
        ("password.reset", "success"),
    }
    assert ADA not in json.dumps([e.detail for e in events]).lower()


def test_forgot__a_second_request_revokes_the_first_link(lc: Lifecycle) -> None:
    set_password(lc, DEMO.admin_user_id)
    forgot(lc)
    forgot(lc)
    first, second = reset_tokens(lc, 2)
    assert first != second
    assert assert_documented(reset(lc, first), RESET) == EXPIRED_LINK
    assert reset(lc, second).status_code == 200


def test_reset__an_expired_or_unknown_link_is_the_published_400(lc: Lifecycle) -> None:
    set_password(lc, DEMO.admin_user_id)
    forgot(lc)
    (token,) = reset_tokens(lc, 1)
    with lc.service.engine.begin() as connection:
        connection.execute(
            update(password_resets_table).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert assert_documented(reset(lc, token), RESET) == EXPIRED_LINK
    assert assert_documented(reset(lc, "x" * 43), RESET) == EXPIRED_LINK
    assert sign_in(lc, GOOD_PASSWORD).status_code == 200  # nothing changed


def test_forgot__unknown_invited_or_inactive_get_the_same_200_and_no_mail(lc: Lifecycle) -> None:
    set_password(lc, DEMO.active_user_id, status=UserStatus.INACTIVE)
    quiet = ["nobody.here@example.com", "ivy.invited@example.com", "abe.active@example.com"]
    answers = {forgot(lc, email) for email in quiet}
    answers.add(forgot(lc))  # and Ada, who gets a mail
    assert len(answers) == 1
    reset_tokens(lc, 1)  # Ada's mail arrived
    for email in quiet:
        assert outbox_count(lc, email) == 0
        assert not [r for r in list(lc.smtp.received) if r.rcpt_tos == [email]]
