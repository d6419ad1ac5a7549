"""GET/POST /customers/{customerID}/users and GET/PATCH .../users/{userID} through the ASGI app.

Every documented answer of the four operations, on SQLite and PostgreSQL, each checked against the
contract; the database is read back to show what a user of the API would notice later.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from authsvc.db.models import AuditEvent, RefreshToken, User, UserStatus
from authsvc.db.types import utcnow
from authsvc.demo import DEMO
from authsvc.services.container import Services
from tests.support.contract_check import assert_documented, example_of
from tests.support.lifecycle import (
    CREATE,
    GET,
    LIST,
    PATCH,
    bearer,
    db,
    invitations_of,
    mail_to,
    new_user_body,
    subrole_id,
    user_row,
    users_url,
)

ACME_USERS = {"ada.admin", "max.member", "ivy.invited", "abe.active", "nia.newcomer"}


def _locals(records: list[dict[str, Any]]) -> set[str]:
    return {r["email"].split("@")[0] for r in records}


# --- list ---------------------------------------------------------------------------------


def test_list__admin_gets_only_their_customers_users_in_a_stable_order(
    client: TestClient, demo: dict[str, Any]
) -> None:
    response = client.get(users_url(demo["customer_id"]), headers=bearer(demo["admin_token"]))
    assert response.status_code == 200
    body = assert_documented(response, LIST)
    assert body["status"] == "success"
    records = body["data"]["records"]
    assert _locals(records) == ACME_USERS  # none of Globex's or the platform's
    assert body["data"]["total_items"] == str(len(ACME_USERS))
    assert body["data"]["total_pages"] == 1
    order = [(r["created_at"], r["id"]) for r in records]
    assert order == sorted(order)
    ada = next(r for r in records if r["email"] == "ada.admin@example.com")
    assert (ada["subrole"]["code"], ada["status"]) == ("admin", "ACTIVE")


def test_list__pages_cover_every_user_once(client: TestClient, demo: dict[str, Any]) -> None:
    seen: list[str] = []
    for page in (1, 2, 3):
        response = client.get(
            users_url(demo["customer_id"]),
            params={"page": page, "items_per_page": 2},
            headers=bearer(demo["admin_token"]),
        )
        data = assert_documented(response, LIST)["data"]
        assert (data["total_items"], data["total_pages"]) == (str(len(ACME_USERS)), 3)
        seen += [r["email"] for r in data["records"]]
    assert len(seen) == len(set(seen)) == len(ACME_USERS)
    beyond = client.get(
        users_url(demo["customer_id"]),
        params={"page": 9, "items_per_page": 2},
        headers=bearer(demo["admin_token"]),
    )
    assert assert_documented(beyond, LIST)["data"]["records"] == []


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "INVITED"}, {"ivy.invited", "nia.newcomer"}),
        ({"subrole": "admin"}, {"ada.admin"}),
        ({"search": "ADA"}, {"ada.admin"}),
        ({"search": "max"}, {"max.member"}),
        ({"search": "Demo", "status": "ACTIVE"}, {"ada.admin", "max.member", "abe.active"}),
        ({"search": "%"}, set()),
        ({"search": "gus"}, set()),  # Globex's admin: never listed under Acme
        ({"subrole": "admin", "status": "ACTIVE", "search": "ada"}, {"ada.admin"}),
    ],
    ids=[
        "status",
        "subrole",
        "search-case",
        "search-name",
        "combined",
        "like-escaped",
        "other",
        "all-three",
    ],
)
def test_list__filters(
    client: TestClient, demo: dict[str, Any], params: dict[str, str], expected: set[str]
) -> None:
    response = client.get(
        users_url(demo["customer_id"]), params=params, headers=bearer(demo["admin_token"])
    )
    data = assert_documented(response, LIST)["data"]
    assert _locals(data["records"]) == expected
    assert data["total_items"] == str(len(expected))


def test_list__filtered_pages_cover_every_match_once(
    client: TestClient, demo: dict[str, Any]
) -> None:
    """The page's ids are chosen with the filter, then joined to their rows: one match a page."""
    seen: list[str] = []
    for page in (1, 2, 3):
        response = client.get(
            users_url(demo["customer_id"]),
            params={"status": "INVITED", "page": page, "items_per_page": 1},
            headers=bearer(demo["admin_token"]),
        )
        data = assert_documented(response, LIST)["data"]
        assert (data["total_items"], data["total_pages"]) == ("2", 2)
        seen += [r["email"].split("@")[0] for r in data["records"]]
    assert sorted(seen) == ["ivy.invited", "nia.newcomer"]


def test_list__read_permission_suffices(client: TestClient, demo: dict[str, Any]) -> None:
    response = client.get(users_url(demo["customer_id"]), headers=bearer(demo["member_token"]))
    assert response.status_code == 200


def test_list__another_customers_admin_is_403(client: TestClient, demo: dict[str, Any]) -> None:
    response = client.get(users_url(demo["customer_id"]), headers=bearer(demo["other_admin_token"]))
    assert response.status_code == 403
    assert assert_documented(response, LIST) == {
        "message": "Forbidden",
        "errorCode": "ERR_FORBIDDEN",
    }


def test_list__platform_admin_lists_any_customer_and_gets_404_for_none(
    client: TestClient, demo: dict[str, Any]
) -> None:
    token = bearer(demo["platform_admin_token"])
    other = client.get(users_url(demo["other_customer_id"]), headers=token)
    assert _locals(assert_documented(other, LIST)["data"]["records"]) == {
        "gus.admin",
        "gia.invited",
    }
    missing = client.get(users_url(uuid.uuid4()), headers=token)
    assert missing.status_code == 404
    assert assert_documented(missing, LIST) == example_of(404, LIST)


@pytest.mark.parametrize(
    "params",
    [{"items_per_page": "0"}, {"items_per_page": "101"}, {"page": "0"}, {"status": "GONE"}],
    ids=["zero-per-page", "too-many-per-page", "page-zero", "unknown-status"],
)
def test_list__bad_query_is_a_documented_400(
    client: TestClient, demo: dict[str, Any], params: dict[str, str]
) -> None:
    response = client.get(
        users_url(demo["customer_id"]), params=params, headers=bearer(demo["admin_token"])
    )
    assert response.status_code == 400
    assert assert_documented(response, LIST)["errorCode"] == "VALIDATION_ERROR"


def test_list__without_a_token_is_401(client: TestClient, demo: dict[str, Any]) -> None:
    response = client.get(users_url(demo["customer_id"]))
    assert response.status_code == 401
    assert_documented(response, LIST)


# --- create -------------------------------------------------------------------------------


def test_create__invited_user_invitation_mail_and_audit_in_one_go(
    client: TestClient, demo: dict[str, Any], services: Services
) -> None:
    body = new_user_body(services, demo["customer_id"], mobile="+1 555 0100")
    response = client.post(
        users_url(demo["customer_id"]), json=body, headers=bearer(demo["admin_token"])
    )
    assert response.status_code == 200
    answer = assert_documented(response, CREATE)
    assert answer["message"] == example_of(200, CREATE)["message"]
    user_id = answer["data"]["user_id"]
    user = user_row(services, user_id)
    assert (user.status, user.email, user.is_email_verified) == (
        UserStatus.INVITED,
        "dana.analyst@example.com",
        False,
    )
    assert str(user.created_by) == str(DEMO.admin_user_id)
    (invitation,) = invitations_of(services, user_id)
    assert (invitation.revoked_at, invitation.accepted_at) == (None, None)
    (mail,) = mail_to(services, "dana.analyst@example.com")
    assert mail.kind == "invite"
    assert "Acme Corp" in mail.subject
    with db(services) as session:
        (event,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "user.create"))
    assert event.actor == str(DEMO.admin_user_id)
    assert event.detail["changes"]["email"] == {"before": None, "after": "dana.analyst@example.com"}
    assert event.detail["changes"]["subrole"] == {"before": None, "after": "risk_analyst"}


@pytest.mark.parametrize(
    "again", ["dana.analyst@example.com", "Dana.Analyst@EXAMPLE.com", "ivy.invited@example.com"]
)
def test_create__same_address_in_a_customer_is_the_published_400(
    client: TestClient, demo: dict[str, Any], services: Services, again: str
) -> None:
    url, token = users_url(demo["customer_id"]), bearer(demo["admin_token"])
    assert client.post(url, json=new_user_body(services, demo["customer_id"]), headers=token)
    response = client.post(
        url, json=new_user_body(services, demo["customer_id"], email=again), headers=token
    )
    assert response.status_code == 400
    assert assert_documented(response, CREATE) == example_of(400, CREATE)
    with db(services) as session:
        emails = [u.email_normalized for u in session.scalars(select(User))]
    assert emails.count(again.lower()) == 1


def test_create__an_address_another_customer_holds_is_the_published_duplicate(
    client: TestClient, demo: dict[str, Any], services: Services
) -> None:
    """E-mail is the sign-in identifier, so it is unique across customers (docs/contract.md)."""
    body = new_user_body(services, demo["other_customer_id"], email="ADA.admin@example.com")
    response = client.post(
        users_url(demo["other_customer_id"]), json=body, headers=bearer(demo["other_admin_token"])
    )
    assert response.status_code == 400
    assert response.json()["message"] == "Another customer user exists with the same email."


@pytest.mark.parametrize("whose", ["unknown", "other-customer"])
def test_create__subrole_must_be_the_customers(
    client: TestClient, demo: dict[str, Any], services: Services, whose: str
) -> None:
    foreign = (
        str(uuid.uuid4())
        if whose == "unknown"
        else subrole_id(services, demo["other_customer_id"], "admin")
    )
    body = new_user_body(services, demo["customer_id"])
    body["subrole"]["id"] = foreign
    response = client.post(
        users_url(demo["customer_id"]), json=body, headers=bearer(demo["admin_token"])
    )
    assert response.status_code == 400
    assert assert_documented(response, CREATE)["errorCode"] == "INVALID"
    assert mail_to(services, "dana.analyst@example.com") == []


@pytest.mark.parametrize(
    ("token", "status"),
    [("member_token", 403), ("other_admin_token", 403), (None, 401)],
    ids=["member-without-users-write", "another-customers-admin", "no-token"],
)
def test_create__refused_callers_write_nothing(
    client: TestClient, demo: dict[str, Any], services: Services, token: str | None, status: int
) -> None:
    response = client.post(
        users_url(demo["customer_id"]),
        json=new_user_body(services, demo["customer_id"]),
        headers=bearer(demo[token]) if token else {},
    )
    assert response.status_code == status
    assert_documented(response, CREATE)
    assert mail_to(services, "dana.analyst@example.com") == []


def test_create__platform_admin_for_any_customer_and_404_for_none(
    client: TestClient, demo: dict[str, Any], services: Services
) -> None:
    token = bearer(demo["platform_admin_token"])
    body = new_user_body(services, demo["other_customer_id"])
    assert (
        client.post(users_url(demo["other_customer_id"]), json=body, headers=token).status_code
        == 200
    )
    missing = client.post(users_url(uuid.uuid4()), json=body, headers=token)
    assert missing.status_code == 404
    assert_documented(missing, CREATE)


@pytest.mark.parametrize(
    "change",
    [
        {"email": None},
        {"email": "not-an-address"},
        {"first_name": ""},
        {"unexpected": "field"},
        {"subrole": {"id": "not-a-uuid", "code": "x", "label": "y"}},
    ],
    ids=["no-email", "bad-email", "empty-name", "unknown-field", "bad-subrole-id"],
)
def test_create__malformed_body_is_a_documented_400(
    client: TestClient, demo: dict[str, Any], services: Services, change: dict[str, Any]
) -> None:
    body = {k: v for k, v in new_user_body(services, demo["customer_id"], **change).items() if v}
    response = client.post(
        users_url(demo["customer_id"]), json=body, headers=bearer(demo["admin_token"])
    )
    assert response.status_code == 400
    assert assert_documented(response, CREATE)["errorCode"] == "VALIDATION_ERROR"


# --- get ----------------------------------------------------------------------------------


def test_get__user_with_company_details(client: TestClient, demo: dict[str, Any]) -> None:
    response = client.get(
        users_url(demo["customer_id"], demo["invited_user_id"]),
        headers=bearer(demo["member_token"]),
    )
    assert response.status_code == 200
    data = assert_documented(response, GET)["data"]
    assert (data["id"], data["status"], data["email"]) == (
        demo["invited_user_id"],
        "INVITED",
        "ivy.invited@example.com",
    )
    assert data["company_details"]["name"] == "Acme Corp"
    assert data["subrole"]["code"] == "risk_analyst"


@pytest.mark.parametrize(
    "user", ["other_invited_user_id", "unknown"], ids=["another-customers-user", "unknown"]
)
def test_get__user_not_of_this_customer_is_the_published_404(
    client: TestClient, demo: dict[str, Any], user: str
) -> None:
    user_id = demo[user] if user in demo else uuid.uuid4()
    response = client.get(
        users_url(demo["customer_id"], user_id), headers=bearer(demo["admin_token"])
    )
    assert response.status_code == 404
    assert assert_documented(response, GET) == example_of(404, GET)


def test_get__another_customers_admin_is_403(client: TestClient, demo: dict[str, Any]) -> None:
    response = client.get(
        users_url(demo["customer_id"], demo["invited_user_id"]),
        headers=bearer(demo["other_admin_token"]),
    )
    assert response.status_code == 403
    assert_documented(response, GET)


def test_get__malformed_id_is_400_and_no_token_401(
    client: TestClient, demo: dict[str, Any]
) -> None:
    bad = client.get(users_url(demo["customer_id"], "nope"), headers=bearer(demo["admin_token"]))
    assert bad.status_code == 400
    assert_documented(bad, GET)
    anonymous = client.get(users_url(demo["customer_id"], demo["invited_user_id"]))
    assert anonymous.status_code == 401
    assert_documented(anonymous, GET)


# --- patch --------------------------------------------------------------------------------


def _patch(
    client: TestClient, demo: dict[str, Any], user: Any, body: Any, token: str = "admin_token"
) -> Any:
    return client.patch(
        users_url(demo["customer_id"], user), json=body, headers=bearer(demo[token])
    )


def test_patch__changes_fields_and_audits_before_and_after(
    client: TestClient, demo: dict[str, Any], services: Services
) -> None:
    body = {
        "first_name": "Abraham",
        "mobile": "+44 20 7946 0000",
        "subrole": {
            "id": subrole_id(services, demo["customer_id"], "admin"),
            "code": "admin",
            "label": "Admin",
        },
        "last_name": "Demo",  # its current value: not a change
    }
    response = _patch(client, demo, demo["active_user_id"], body)
    assert response.status_code == 200
    assert assert_documented(response, PATCH) == example_of(200, PATCH)
    user = user_row(services, demo["active_user_id"])
    assert (user.first_name, user.mobile, str(user.updated_by)) == (
        "Abraham",
        "+44 20 7946 0000",
        str(DEMO.admin_user_id),
    )
    with db(services) as session:
        (event,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "user.update"))
    assert event.actor == str(DEMO.admin_user_id)
    assert event.detail["changes"] == {
        "first_name": {"before": "Abe", "after": "Abraham"},
        "mobile": {"before": None, "after": "+44 20 7946 0000"},
        "subrole": {"before": "cro", "after": "admin"},
    }


def test_patch__invited_user_cannot_be_made_active(
    client: TestClient, demo: dict[str, Any], services: Services
) -> None:
    response = _patch(client, demo, demo["invited_user_id"], {"status": "ACTIVE"})
    assert response.status_code == 400
    body = assert_documented(response, PATCH)
    assert body == example_of(400, PATCH, "invitation_not_accepted")
    assert user_row(services, demo["invited_user_id"]).status is UserStatus.INVITED


def test_patch__deactivation_stops_tokens_for_good_and_revokes_refresh_tokens(
    client: TestClient, demo: dict[str, Any], services: Services
) -> None:
    with db(services) as session, session.begin():
        session.add(
            RefreshToken(
                user_id=DEMO.member_user_id,
                token_hash="0" * 64,
                expires_at=utcnow() + timedelta(days=1),
            )
        )
    member = bearer(demo["member_token"])
    assert client.get(users_url(demo["customer_id"]), headers=member).status_code == 200
    assert _patch(client, demo, DEMO.member_user_id, {"status": "INACTIVE"}).status_code == 200
    after = client.get(users_url(demo["customer_id"]), headers=member)
    assert after.status_code == 401  # the very next request, same token
    with db(services) as session:
        (refresh,) = session.scalars(select(RefreshToken))
    assert refresh.revoked_at is not None
    # Back to ACTIVE (the user has onboarded before): a token issued before the deactivation
    # stays dead (`tokens_valid_after`); the user signs in again for a new one.
    _set_password(services, DEMO.member_user_id)
    assert _patch(client, demo, DEMO.member_user_id, {"status": "ACTIVE"}).status_code == 200
    assert client.get(users_url(demo["customer_id"]), headers=member).status_code == 401


def _set_password(services: Services, user_id: uuid.UUID) -> None:
    with db(services) as session, session.begin():
        session.get_one(User, user_id).password_hash = "$argon2id$placeholder"


def test_patch__never_onboarded_inactive_user_cannot_be_made_active(
    client: TestClient, demo: dict[str, Any]
) -> None:
    assert _patch(client, demo, demo["invited_user_id"], {"status": "INACTIVE"}).status_code == 200
    response = _patch(client, demo, demo["invited_user_id"], {"status": "ACTIVE"})
    assert response.status_code == 400
    assert assert_documented(response, PATCH)["errorCode"] == "INVITATION_NOT_ACCEPTED"


@pytest.mark.parametrize("change", [{"status": "INACTIVE"}, {"email": "ivy.new@example.com"}])
def test_patch__deactivating_or_readdressing_an_invited_user_revokes_the_link(
    client: TestClient, demo: dict[str, Any], services: Services, change: dict[str, str]
) -> None:
    resend = f"{users_url(demo['customer_id'], demo['invited_user_id'])}/resend-invite"
    assert client.post(resend, headers=bearer(demo["admin_token"])).status_code == 200
    assert _patch(client, demo, demo["invited_user_id"], change).status_code == 200
    (invitation,) = invitations_of(services, demo["invited_user_id"])
    assert invitation.revoked_at is not None
    # No mail goes out on its own: only the resend's, to the old address.
    assert mail_to(services, "ivy.new@example.com") == []
    assert len(mail_to(services, "ivy.invited@example.com")) == 1


def test_patch__address_of_another_user_is_the_published_400(
    client: TestClient, demo: dict[str, Any], services: Services
) -> None:
    response = _patch(client, demo, demo["active_user_id"], {"email": "ADA.admin@example.com"})
    assert response.status_code == 400
    assert assert_documented(response, PATCH) == example_of(400, PATCH, "duplicate_email")
    assert user_row(services, demo["active_user_id"]).email == "abe.active@example.com"


@pytest.mark.parametrize(
    "user", ["other_invited_user_id", "unknown"], ids=["another-customers-user", "unknown"]
)
def test_patch__user_not_of_this_customer_is_the_published_404(
    client: TestClient, demo: dict[str, Any], services: Services, user: str
) -> None:
    user_id = demo[user] if user in demo else uuid.uuid4()
    response = _patch(client, demo, user_id, {"first_name": "Mallory"})
    assert response.status_code == 404
    assert assert_documented(response, PATCH) == example_of(404, PATCH)
    if user in demo:
        assert user_row(services, user_id).first_name == "Gia"


@pytest.mark.parametrize(
    ("token", "status"),
    [("member_token", 403), ("other_admin_token", 403)],
    ids=["member-without-users-write", "another-customers-admin"],
)
def test_patch__refused_callers_change_nothing(
    client: TestClient, demo: dict[str, Any], services: Services, token: str, status: int
) -> None:
    response = _patch(client, demo, demo["active_user_id"], {"first_name": "Mallory"}, token)
    assert response.status_code == status
    assert_documented(response, PATCH)
    assert user_row(services, demo["active_user_id"]).first_name == "Abe"


@pytest.mark.parametrize(
    "body", [{}, {"status": "INVITED"}, {"email": "nope"}], ids=["empty", "invited", "bad-email"]
)
def test_patch__malformed_body_is_a_documented_400(
    client: TestClient, demo: dict[str, Any], body: dict[str, Any]
) -> None:
    response = _patch(client, demo, demo["active_user_id"], body)
    assert response.status_code == 400
    assert assert_documented(response, PATCH)["errorCode"] == "VALIDATION_ERROR"


@pytest.mark.parametrize(
    "subrole",
    [{"code": "admin"}, {"code": "admin", "label": "Admin"}, {"id": None, "nickname": "boss"}],
    ids=["code-only", "no-id", "extra-field"],
)
def test_patch__subrole_that_cannot_be_applied_is_a_documented_400_and_changes_nothing(
    client: TestClient, demo: dict[str, Any], services: Services, subrole: dict[str, Any]
) -> None:
    before = user_row(services, demo["active_user_id"]).subrole_id
    if subrole.get("id", "") is None:
        subrole = {**subrole, "id": subrole_id(services, demo["customer_id"], "admin")}
    response = _patch(client, demo, demo["active_user_id"], {"subrole": subrole})
    assert response.status_code == 400
    assert assert_documented(response, PATCH)["errorCode"] == "VALIDATION_ERROR"
    assert user_row(services, demo["active_user_id"]).subrole_id == before


def test_patch__a_new_address_is_unverified_a_new_spelling_is_not(
    client: TestClient, demo: dict[str, Any], services: Services
) -> None:
    with db(services) as session, session.begin():
        session.get(User, uuid.UUID(demo["active_user_id"])).is_email_verified = True  # type: ignore[union-attr]
    # The same address spelled differently is still the verified one.
    response = _patch(client, demo, demo["active_user_id"], {"email": "Abe.Active@example.com"})
    assert response.status_code == 200
    assert user_row(services, demo["active_user_id"]).is_email_verified is True
    response = _patch(client, demo, demo["active_user_id"], {"email": "abe.elsewhere@example.com"})
    assert response.status_code == 200
    assert user_row(services, demo["active_user_id"]).is_email_verified is False
    got = client.get(
        f"{users_url(demo['customer_id'])}/{demo['active_user_id']}",
        headers=bearer(demo["admin_token"]),
    )
    assert assert_documented(got, GET)["data"]["is_email_verified"] is False


@pytest.mark.parametrize(
    ("search", "found"),
    [
        ("Ölafsdóttir", True),
        ("ölafsdÓttir", True),  # case-insensitive beyond ASCII
        ("OLAFSDOTTIR", False),  # accent-sensitive
        ("strasse", True),  # casefold: "Straße" folds to "strasse"
        ("STRASSE", True),
        ("Zoë", True),
    ],
    ids=["as-written", "other-case", "no-accents", "sharp-s-folded", "sharp-s-upper", "first-name"],
)
def test_list__search_folds_unicode_case_alike_on_both_databases(
    client: TestClient, demo: dict[str, Any], services: Services, search: str, found: bool
) -> None:
    body = new_user_body(
        services,
        demo["customer_id"],
        email="zoe.o@example.com",
        first_name="Zoë",
        last_name="Ölafsdóttir-Straße",
    )
    assert (
        client.post(
            users_url(demo["customer_id"]), json=body, headers=bearer(demo["admin_token"])
        ).status_code
        == 200
    )
    response = client.get(
        users_url(demo["customer_id"]),
        params={"search": search},
        headers=bearer(demo["admin_token"]),
    )
    records = assert_documented(response, LIST)["data"]["records"]
    assert _locals(records) == ({"zoe.o"} if found else set())


def test_patch__renamed_user_is_found_by_the_new_name_only(
    client: TestClient, demo: dict[str, Any]
) -> None:
    assert (
        _patch(client, demo, demo["active_user_id"], {"last_name": "Þórsdóttir"}).status_code == 200
    )

    def found(search: str) -> set[str]:
        response = client.get(
            users_url(demo["customer_id"]),
            params={"search": search},
            headers=bearer(demo["admin_token"]),
        )
        return _locals(assert_documented(response, LIST)["data"]["records"])

    assert found("þórsdóttir") == {"abe.active"}
    assert found("ÞÓRSDÓTTIR") == {"abe.active"}
    assert "abe.active" not in found("Demo")  # the old last name no longer matches
