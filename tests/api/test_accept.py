"""POST /invite/{inviteToken}/accept through the ASGI app, and the JWKS its tokens verify against.

On SQLite and PostgreSQL: the published 200 with working tokens; the published password 400; one
answer, with no visible timing difference, for unknown, superseded, expired and used tokens; single
use; the invite token never reaches a log line.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from argon2 import PasswordHasher
from sqlalchemy import event, select, update
from starlette.testclient import TestClient
from uvicorn.logging import AccessFormatter

from authsvc.config import Settings, load_settings
from authsvc.db.models import Invitation, RefreshToken, UserStatus, invitations_table
from authsvc.db.types import utcnow
from authsvc.security.issuer import hash_refresh_token
from authsvc.security.passwords import RULE_CHARACTERS
from authsvc.security.redaction import InviteTokenRedactor
from authsvc.services.container import Services
from tests.support.contract_check import assert_documented, example_of
from tests.support.lifecycle import (
    ACCEPT,
    GOOD_PASSWORD,
    accept_url,
    bearer,
    db,
    invitations_of,
    invite_token_in,
    mail_to,
    new_user_body,
    subrole_id,
    user_row,
    users_url,
)

JWKS = "/.well-known/jwks.json"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Overrides the conftest fixture: accepts from one test client go past the attempt limit.

    This module is about accepting; the limit on attempts is tests/api/test_throttle.py's.
    """
    return load_settings(
        environment="test",
        data_dir=tmp_path / "data",
        database_url=database_url,
        app_url="https://app.example.test",
        accept_limit=1000,
    )


def _invite(
    client: TestClient, demo: dict[str, Any], services: Services, **body: Any
) -> tuple[str, str]:
    """A new user of Acme created by its admin (subrole admin); (user id, invite token)."""
    payload = new_user_body(services, demo["customer_id"], **body)
    payload["subrole"] = {
        "id": subrole_id(services, demo["customer_id"], "admin"),
        "code": "admin",
        "label": "Admin",
    }
    response = client.post(
        users_url(demo["customer_id"]), json=payload, headers=bearer(demo["admin_token"])
    )
    assert response.status_code == 200, response.text
    (mail,) = mail_to(services, payload["email"])
    return response.json()["data"]["user_id"], invite_token_in(services, mail)


def _accept(client: TestClient, token: str, password: str | None = GOOD_PASSWORD) -> Any:
    body = None if password is None else {"password": password}
    return client.post(accept_url(token), json=body)


def test_accept__activates_the_user_and_returns_working_tokens(
    client: TestClient, demo: dict[str, Any], services: Services
) -> None:
    user_id, token = _invite(client, demo, services)
    response = _accept(client, token)
    assert response.status_code == 200
    body = assert_documented(response, ACCEPT)
    assert (body["status"], body["message"]) == ("success", example_of(200, ACCEPT)["message"])
    data = body["data"]
    assert data["is_email_verified"] is True

    user = user_row(services, user_id)
    assert (user.status, user.is_email_verified) == (UserStatus.ACTIVE, True)
    assert user.password_hash is not None
    assert user.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert PasswordHasher().verify(user.password_hash, GOOD_PASSWORD)
    (invitation,) = invitations_of(services, user_id)
    assert invitation.accepted_at is not None

    # The refresh token is stored hashed, bound to the user, with an expiry.
    with db(services) as session:
        (refresh,) = session.scalars(select(RefreshToken))
    assert refresh.token_hash == hash_refresh_token(data["refresh_token"])
    assert data["refresh_token"] not in refresh.token_hash
    assert str(refresh.user_id) == user_id
    assert refresh.expires_at > utcnow() + timedelta(days=29)

    # The id_token verifies against the published JWKS and works as a bearer at once.
    keys = client.get(JWKS)
    assert keys.status_code == 200
    assert keys.headers["cache-control"] == "public, max-age=300"
    jwk_set = jwt.PyJWKSet.from_dict(assert_documented(keys, "wellknown.jwks"))
    header = jwt.get_unverified_header(data["id_token"])
    claims = jwt.decode(
        data["id_token"],
        jwk_set[header["kid"]].key,
        algorithms=["RS256"],
        audience=demo["audience"],
        issuer=demo["issuer"],
    )
    assert (claims["sub"], claims["customer_id"]) == (user_id, demo["customer_id"])
    assert claims["exp"] - claims["iat"] == 15 * 60
    assert set(claims["permissions"]) == {"users:read", "users:write", "users:resend-invite"}
    assert claims["jti"]
    for bearer_token in (data["id_token"], data["access_token"]):
        own = client.get(users_url(demo["customer_id"], user_id), headers=bearer(bearer_token))
        assert own.status_code == 200
        assert own.json()["data"]["status"] == "ACTIVE"

    # Single use; and a resend now answers the seed's 400.
    again = _accept(client, token)
    assert again.status_code == 400
    assert assert_documented(again, ACCEPT) == example_of(400, ACCEPT, "invalid_invitation")
    resend = client.post(
        f"{users_url(demo['customer_id'], user_id)}/resend-invite",
        headers=bearer(demo["admin_token"]),
    )
    assert resend.status_code == 400


@pytest.mark.parametrize(
    "password",
    [None, "", "short", "alllowercase1!", "ALLUPPERCASE1!", "NoSymbolsHere1"],
    ids=["absent", "empty", "short", "no-upper", "no-lower", "no-symbol"],
)
def test_accept__weak_password_is_the_published_400_and_changes_nothing(
    client: TestClient, demo: dict[str, Any], services: Services, password: str | None
) -> None:
    user_id, token = _invite(client, demo, services)
    response = _accept(client, token, password)
    assert response.status_code == 400
    assert assert_documented(response, ACCEPT) == example_of(400, ACCEPT, "password_rules")
    assert user_row(services, user_id).status is UserStatus.INVITED
    assert _accept(client, token).status_code == 200  # the link was not used up


def test_accept__common_password_is_refused(
    client: TestClient, demo: dict[str, Any], services: Services
) -> None:
    _user, token = _invite(client, demo, services)
    response = _accept(client, token, "P@ssw0rd1")
    assert response.status_code == 400
    assert assert_documented(response, ACCEPT)["message"] == "password is too common"


# Issue 18, item 5: accepted before passwords were normalised (invisible characters counted as
# characters and as symbols). The message is the published one when a published rule is broken.
INVISIBLE = {
    "combining": ("Aa" + "\u0301" * 6, "password_rules"),
    "zero-width": ("Aa" + "\u200b" * 6, "password_rules"),
    "nul": ("Aa" + "\x00" * 6, "password_rules"),
    "control": ("Aa" + "\x01" * 6, "password_rules"),
    "rlo": ("Aa!" + "\u202e" * 5, None),
}


@pytest.mark.parametrize(("password", "example"), INVISIBLE.values(), ids=INVISIBLE.keys())
def test_accept__invisible_characters_are_a_documented_400_and_change_nothing(
    client: TestClient,
    demo: dict[str, Any],
    services: Services,
    password: str,
    example: str | None,
) -> None:
    user_id, token = _invite(client, demo, services)
    response = _accept(client, token, password)
    assert response.status_code == 400
    body = assert_documented(response, ACCEPT)
    if example is not None:
        assert body == example_of(400, ACCEPT, example)
    else:
        assert (body["errorCode"], body["message"]) == ("INVALID", RULE_CHARACTERS)
    assert user_row(services, user_id).status is UserStatus.INVITED
    assert _accept(client, token).status_code == 200  # the link was not used up


def _unusable_tokens(
    client: TestClient, demo: dict[str, Any], services: Services
) -> dict[str, str]:
    """One token of each kind that must not be accepted."""
    _a, superseded = _invite(client, demo, services, email="sue.superseded@example.com")
    sue = next(u for u in invitations_of(services, _a))
    resend = client.post(
        f"{users_url(demo['customer_id'], sue.user_id)}/resend-invite",
        headers=bearer(demo["admin_token"]),
    )
    assert resend.status_code == 200
    _b, expired = _invite(client, demo, services, email="eve.expired@example.com")
    with services.engine.begin() as connection:
        connection.execute(
            update(invitations_table)
            .where(invitations_table.c.user_id == uuid.UUID(_b))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    _c, used = _invite(client, demo, services, email="uma.used@example.com")
    assert _accept(client, used).status_code == 200
    return {
        "unknown": "x" * 43,
        "superseded": superseded,
        "expired": expired,
        "used": used,
    }


def test_accept__unusable_tokens_get_one_answer(
    client: TestClient, demo: dict[str, Any], services: Services
) -> None:
    answers = {
        kind: _accept(client, token)
        for kind, token in _unusable_tokens(client, demo, services).items()
    }
    bodies = {kind: (r.status_code, assert_documented(r, ACCEPT)) for kind, r in answers.items()}
    expected = (400, example_of(400, ACCEPT, "invalid_invitation"))
    assert bodies == dict.fromkeys(answers, expected)
    with db(services) as session:
        pending = session.scalars(select(Invitation).where(Invitation.accepted_at.is_not(None)))
        assert len(list(pending)) == 1  # only the one accepted on purpose


def test_accept__unusable_tokens_cost_the_same_work(
    client: TestClient,
    demo: dict[str, Any],
    services: Services,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whatever makes a token unusable, accept does the same work: one Argon2id hash of the
    password before any lookup, and the same SQL statements. Held structurally, not by timing (the
    timing is measured in bench/, never asserted): what an attacker could time is the work."""
    tokens = _unusable_tokens(client, demo, services)
    hashes: list[int] = []
    statements: list[str] = []
    real_hash = PasswordHasher.hash

    def counting_hash(self: PasswordHasher, password: str | bytes, **kwargs: Any) -> str:
        hashes.append(1)
        return real_hash(self, password, **kwargs)

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    monkeypatch.setattr(PasswordHasher, "hash", counting_hash)
    work: dict[str, tuple[int, list[str]]] = {}
    event.listen(services.engine, "before_cursor_execute", record)
    try:
        for kind, token in tokens.items():
            hashes.clear()
            statements.clear()
            assert _accept(client, token).status_code == 400
            work[kind] = (len(hashes), list(statements))
    finally:
        event.remove(services.engine, "before_cursor_execute", record)
    assert {kind: counted for kind, (counted, _sql) in work.items()} == dict.fromkeys(tokens, 1)
    reference = work["unknown"][1]
    assert reference, "no statement recorded"
    assert all(sql == reference for _hashes, sql in work.values()), work


def test_accept__malformed_token_is_a_documented_400(client: TestClient) -> None:
    response = client.post(accept_url("not a token!"), json={"password": GOOD_PASSWORD})
    assert response.status_code == 400
    assert assert_documented(response, ACCEPT)["errorCode"] == "VALIDATION_ERROR"


def test_redaction__access_and_error_logs_never_show_the_invite_token() -> None:
    token = "Sc1KmNrQ-W-EAtWxAL7JKaVKJclGiwH4umFpho7EsYs"
    access = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", f"/auth/api/v1/invite/{token}/accept", "1.1", 400),
        None,
    )
    assert InviteTokenRedactor().filter(access)
    line = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s').format(access)
    assert token not in line
    assert "/invite/[redacted]/accept" in line
    error = logging.LogRecord(
        "authsvc.errors",
        logging.ERROR,
        __file__,
        1,
        "unhandled %s on %s %s",
        ("RuntimeError", "POST", f"/auth/api/v1/invite/{token}/accept"),
        None,
    )
    InviteTokenRedactor().filter(error)
    assert token not in error.getMessage()


def test_redaction__installed_on_the_path_loggers(client: TestClient) -> None:
    for name in ("uvicorn.access", "uvicorn.error", "authsvc.errors"):
        assert any(isinstance(f, InviteTokenRedactor) for f in logging.getLogger(name).filters)
