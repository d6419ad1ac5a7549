"""Sign-in, refresh and logout over HTTP on SQLite and PostgreSQL: sessions that end for good.

accept -> sign-in -> refresh -> reuse detected -> family dead; the two-tab race gets one
successor; a two-generations-old token ends the family; logout -> bearer refused; deactivate ->
reactivate -> old tokens refused; every sign-in refusal is the same bytes after the same queries.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import jwt
import pytest
from sqlalchemy import event, select, update
from starlette.testclient import TestClient

from authsvc.db.models import AuditEvent, SignInSession, User, UserStatus, users_table
from authsvc.db.models import refresh_tokens_table as tokens
from authsvc.db.types import utcnow
from authsvc.demo import DEMO
from authsvc.security.passwords import hash_password
from authsvc.services.container import Services
from tests.support.contract_check import assert_documented, example_of
from tests.support.lifecycle import BASE, GOOD_PASSWORD, bearer, db, users_url

SIGN_IN = "sign_in.customer_sign_in"
REFRESH = "sign_in.refresh_customer_token"
LOGOUT = "sign_in.customer_logout"
ADA = "ada.admin@example.com"


def _with_password(services: Services, user_id: uuid.UUID, password: str = GOOD_PASSWORD) -> None:
    with db(services) as session, session.begin():
        session.get_one(User, user_id).password_hash = hash_password(password)


def _sign_in(client: TestClient, email: str = ADA, password: str = GOOD_PASSWORD) -> Any:
    return client.post(f"{BASE}/customer/sign-in", json={"email": email, "password": password})


def _refresh(client: TestClient, token: str | None) -> Any:
    body = {} if token is None else {"refresh_token": token}
    return client.post(f"{BASE}/refresh-token/customer", json=body)


def _logout(client: TestClient, id_token: str, **body: Any) -> Any:
    return client.post(f"{BASE}/customer/logout", json=body, headers=bearer(id_token))


def _works(client: TestClient, id_token: str) -> bool:
    response = client.get(users_url(DEMO.customer_id), headers=bearer(id_token))
    assert response.status_code in (200, 401)
    return response.status_code == 200


def _signed_in(client: TestClient, services: Services) -> dict[str, Any]:
    _with_password(services, DEMO.admin_user_id)
    response = _sign_in(client, "Ada.Admin@Example.com")  # compared case-insensitively
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    data: dict[str, Any] = assert_documented(response, SIGN_IN)["data"]
    return data


INVALID = {
    "status": "fail",
    "message": "Refresh Token is invalid or has expired",
    "errorCode": "INVALID",
    "data": {"errorName": "SignInApiError"},
}


def test_sign_in__returns_the_published_answer_with_working_tokens(
    client: TestClient, demo: dict[str, Any], services: Services
) -> None:
    data = _signed_in(client, services)
    assert data["user_details"]["id"] == str(DEMO.admin_user_id)
    assert data["customer_details"]["id"] == str(DEMO.customer_id)
    assert {p["code"] for p in data["permissions"]} >= {"users:read", "users:write"}
    assert len(data["refresh_token"]) == 43
    assert _works(client, data["id_token"])
    assert _works(client, data["access_token"])


def test_refresh__rotates_and_reuse_ends_the_family(
    client: TestClient, demo: dict[str, Any], services: Services
) -> None:
    first = _signed_in(client, services)
    response = _refresh(client, first["refresh_token"])
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    second = assert_documented(response, REFRESH)["data"]
    assert second["refresh_token"] != first["refresh_token"]
    third = _refresh(client, second["refresh_token"]).json()["data"]
    assert _works(client, third["id_token"])
    # `first` is two generations old: reuse, even within the grace window.
    reused = _refresh(client, first["refresh_token"])
    assert (reused.status_code, reused.json()) == (400, INVALID)
    assert not _works(client, third["id_token"])  # the whole family is dead
    assert _refresh(client, third["refresh_token"]).json() == INVALID
    with db(services) as session:
        ended = session.scalars(select(SignInSession).where(SignInSession.ended_at.is_not(None)))
        assert [s.end_reason for s in ended] == ["refresh_reuse"]


def test_refresh__after_the_grace_window_a_rotated_token_is_reuse(
    client: TestClient, demo: dict[str, Any], services: Services
) -> None:
    first = _signed_in(client, services)
    second = _refresh(client, first["refresh_token"]).json()["data"]
    services_grace = services.issuer.policy.grace_seconds
    assert services_grace > 0
    with db(services) as session, session.begin():  # the rotation happened a while ago
        session.execute(
            update(tokens)
            .where(tokens.c.rotated_at.is_not(None))
            .values(rotated_at=utcnow() - timedelta(seconds=services_grace + 60))
        )
    assert _refresh(client, first["refresh_token"]).json() == INVALID
    assert not _works(client, second["id_token"])


def test_refresh__two_tabs_at_once_get_the_same_successor(
    client: TestClient, demo: dict[str, Any], services: Services
) -> None:
    first = _signed_in(client, services)
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: _refresh(client, first["refresh_token"]), range(2)))
    assert [a.status_code for a in answers] == [200, 200]
    successors = {a.json()["data"]["refresh_token"] for a in answers}
    assert len(successors) == 1
    (successor,) = successors
    assert _refresh(client, successor).status_code == 200  # the family is alive


@pytest.mark.parametrize(
    ("body", "expected"),
    [({}, "refresh_token_required"), ({"refresh_token": ""}, "refresh_token_required")],
    ids=["no-token", "empty-token"],
)
def test_refresh__without_a_token_is_the_published_400(
    client: TestClient, demo: dict[str, Any], body: dict[str, Any], expected: str
) -> None:
    response = client.post(f"{BASE}/refresh-token/customer", json=body)
    assert response.status_code == 400
    assert assert_documented(response, REFRESH) == example_of(400, REFRESH, expected)


def test_refresh__an_id_token_or_an_unknown_token_is_invalid(
    client: TestClient, demo: dict[str, Any], services: Services
) -> None:
    data = _signed_in(client, services)
    for token in (data["id_token"], "x" * 43, data["access_token"]):
        response = _refresh(client, token)
        assert (response.status_code, response.json()) == (400, INVALID)
    assert _refresh(client, data["refresh_token"]).status_code == 200


def test_logout__ends_the_session_and_its_bearer(
    client: TestClient, demo: dict[str, Any], services: Services
) -> None:
    data = _signed_in(client, services)
    other = _sign_in(client).json()["data"]
    response = _logout(client, data["id_token"])
    assert response.status_code == 200
    assert assert_documented(response, LOGOUT) == example_of(200, LOGOUT)
    assert not _works(client, data["id_token"])
    assert not _works(client, data["access_token"])
    assert _refresh(client, data["refresh_token"]).json() == INVALID
    again = _logout(client, data["id_token"])
    assert again.status_code == 401
    assert_documented(again, LOGOUT)
    assert _works(client, other["id_token"])  # another session of the same user lives on


def test_logout__a_refresh_token_in_the_body_ends_its_session_too(
    client: TestClient, demo: dict[str, Any], services: Services
) -> None:
    one = _signed_in(client, services)
    two = _sign_in(client).json()["data"]
    assert _logout(client, one["id_token"], refresh_token=two["refresh_token"]).status_code == 200
    assert not _works(client, two["id_token"])


def _expired(services: Services, id_token: str) -> str:
    """The same session's id_token, signed by the service's own key, expired a minute ago."""
    claims = jwt.decode(id_token, options={"verify_signature": False})
    now = int(time.time())
    claims.update(iat=now - 960, exp=now - 60)
    key = services.issuer.tokens.signing_key
    return jwt.encode(claims, key.private_key, algorithm=key.algorithm, headers={"kid": key.kid})


def _anonymous_logout(
    client: TestClient, headers: dict[str, str] | None = None, **body: Any
) -> Any:
    return client.post(f"{BASE}/customer/logout", json=body, headers=headers or {})


def test_logout__with_an_expired_id_token_the_refresh_token_ends_the_session(
    client: TestClient, demo: dict[str, Any], services: Services
) -> None:
    data = _signed_in(client, services)
    other = _sign_in(client).json()["data"]
    expired = _expired(services, data["id_token"])
    assert not _works(client, expired)

    response = _logout(client, expired, refresh_token=data["refresh_token"])

    assert (response.status_code, assert_documented(response, LOGOUT)) == (
        200,
        example_of(200, LOGOUT),
    )
    assert _refresh(client, data["refresh_token"]).json() == INVALID
    assert not _works(client, data["id_token"])  # the session's unexpired tokens die with it
    assert _works(client, other["id_token"])  # another session of the same user lives on
    again = _logout(client, expired, refresh_token=data["refresh_token"])
    assert again.status_code == 401
    assert again.headers["www-authenticate"] == "Bearer"
    assert_documented(again, LOGOUT)
    with db(services) as session:
        [ended] = session.scalars(select(SignInSession).where(SignInSession.ended_at.is_not(None)))
        assert ended.end_reason == "logout"
        detail = session.scalars(
            select(AuditEvent.detail).where(AuditEvent.action == "session.logout")
        ).all()
        assert detail == [{"sessions_ended": 1, "by": "refresh_token"}]


def test_logout__without_any_bearer_a_rotated_refresh_token_still_ends_its_session(
    client: TestClient, demo: dict[str, Any], services: Services
) -> None:
    first = _signed_in(client, services)
    second = _refresh(client, first["refresh_token"]).json()["data"]
    assert _anonymous_logout(client, refresh_token=first["refresh_token"]).status_code == 200
    assert not _works(client, second["id_token"])
    assert _refresh(client, second["refresh_token"]).json() == INVALID


@pytest.mark.parametrize(
    "case", ["no-body", "empty-token", "unknown-token", "idle-expired-session", "garbage-bearer"]
)
def test_logout__without_a_usable_bearer_or_live_refresh_token_is_401(
    client: TestClient, demo: dict[str, Any], services: Services, case: str
) -> None:
    data = _signed_in(client, services)
    headers: dict[str, str] = {}
    body: dict[str, str] = {}
    if case == "empty-token":
        body = {"refresh_token": ""}
    elif case == "unknown-token":
        body = {"refresh_token": "A" * 43}
    elif case == "idle-expired-session":
        with db(services) as session, session.begin():
            session.execute(
                update(SignInSession).values(idle_expires_at=utcnow() - timedelta(seconds=1))
            )
        body = {"refresh_token": data["refresh_token"]}
    elif case == "garbage-bearer":
        headers = bearer("not.a.jwt")
    response = _anonymous_logout(client, headers, **body)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert_documented(response, LOGOUT)
    if case != "idle-expired-session":
        assert _works(client, data["id_token"])  # nothing ended


def test_deactivate_then_reactivate__old_tokens_stay_dead(
    client: TestClient, demo: dict[str, Any], services: Services
) -> None:
    _with_password(services, DEMO.member_user_id)
    data = _sign_in(client, "max.member@example.com").json()["data"]
    assert _works(client, data["id_token"])
    patch = {"Authorization": f"Bearer {demo['admin_token']}"}
    url = users_url(DEMO.customer_id, DEMO.member_user_id)
    assert client.patch(url, json={"status": "INACTIVE"}, headers=patch).status_code == 200
    assert client.patch(url, json={"status": "ACTIVE"}, headers=patch).status_code == 200
    assert not _works(client, data["id_token"])
    assert not _works(client, demo["member_token"])  # another issuer's kind: no session
    assert _refresh(client, data["refresh_token"]).json() == INVALID
    fresh = _sign_in(client, "max.member@example.com").json()["data"]
    assert _works(client, fresh["id_token"])


CASES = ["wrong-password", "unknown-email", "invited", "inactive"]


def _statements() -> tuple[list[str], Any]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    return seen, record


def test_sign_in__every_refusal_is_the_same_bytes_after_the_same_queries(
    client: TestClient, demo: dict[str, Any], services: Services
) -> None:
    """Structural: a wrong password, an unknown e-mail, an invited and an inactive user."""
    _with_password(services, DEMO.admin_user_id)
    _with_password(services, DEMO.active_user_id)
    with db(services) as session, session.begin():
        session.execute(
            update(users_table)
            .where(users_table.c.id == DEMO.active_user_id)
            .values(status=UserStatus.INACTIVE)
        )
    attempts = {
        "wrong-password": (ADA, GOOD_PASSWORD + "x"),
        "unknown-email": ("nobody.here@example.com", GOOD_PASSWORD),
        "invited": ("ivy.invited@example.com", GOOD_PASSWORD),
        "inactive": ("abe.active@example.com", GOOD_PASSWORD),
    }
    engine = services.engine
    bodies, queries = {}, {}
    for case in CASES:
        seen, record = _statements()
        event.listen(engine, "before_cursor_execute", record)
        try:
            response = _sign_in(client, *attempts[case])
        finally:
            event.remove(engine, "before_cursor_execute", record)
        assert response.status_code == 400
        bodies[case] = response.content
        queries[case] = [
            q for q in seen if not q.lstrip().upper().startswith(("SAVEPOINT", "RELEASE"))
        ]
    assert len(set(bodies.values())) == 1, bodies
    assert assert_documented(response, SIGN_IN) == example_of(400, SIGN_IN)
    assert len({tuple(q) for q in queries.values()}) == 1, queries


def test_demo_tokens__name_a_session_that_logout_ends(
    client: TestClient, demo: dict[str, Any], services: Services
) -> None:
    """What `authsvc demo` mints names a live session (`sid`): a logout ends it for good."""
    import jwt

    admin = demo["admin_token"]
    claims = jwt.decode(admin, options={"verify_signature": False})
    with db(services) as session:
        live = session.get_one(SignInSession, uuid.UUID(claims["sid"]))
        assert (live.user_id, live.ended_at) == (DEMO.admin_user_id, None)
    assert _works(client, admin)
    assert _logout(client, admin).status_code == 200
    assert not _works(client, admin)
    assert _works(client, demo["member_token"])  # another session, untouched


def test_sign_in__a_hash_of_the_raw_form_is_replaced_by_one_of_the_nfkc_form(
    client: TestClient, demo: dict[str, Any], services: Services
) -> None:
    """Hashes stored before normalisation still match as typed, and are rehashed on success."""
    from authsvc.security.passwords import password_hasher

    typed = "\uff23orr3ct-Horse-Battery"  # a fullwidth C: NFKC turns it into "C"
    raw_hash = password_hasher().hash(typed)  # as stored before passwords were normalised
    with db(services) as session, session.begin():
        session.get_one(User, DEMO.admin_user_id).password_hash = raw_hash
    assert _sign_in(client, ADA, "Corr3ct-Horse-Battery").status_code == 400  # not yet
    assert _sign_in(client, ADA, typed).status_code == 200
    with db(services) as session:
        stored = session.get_one(User, DEMO.admin_user_id).password_hash
    assert stored != raw_hash
    assert _sign_in(client, ADA, "Corr3ct-Horse-Battery").status_code == 200  # the NFKC form now
    assert _sign_in(client, ADA, typed).status_code == 200  # and as typed, normalised
