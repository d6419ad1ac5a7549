"""The invitation lifecycle end to end over HTTP, on SQLite and PostgreSQL, with real SMTP.

The service runs under uvicorn on a loopback port with its in-process delivery loop; mail goes to a
real SMTP server (aiosmtpd) on loopback. An admin creates a user, the invite arrives, its link is
accepted, the id_token it returns is a working bearer that PyJWT verifies against the live
`/.well-known/jwks.json`, and every link is single use. Every answer is checked against the
contract.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from pydantic import SecretStr

from tests.reliability.conftest import LiveService, serve_factory
from tests.support.contract_check import assert_documented, example_of
from tests.support.mail import SmtpServer

API = "/auth/api/v1"
LINK = re.compile(r"https://app\.example\.test/invite/([A-Za-z0-9_\-]+)")
GOOD_PASSWORD = "Corr3ct-Horse-Battery"
ACCEPT = "invitations.accept_invitation"


@dataclass
class Lifecycle:
    service: LiveService
    smtp: SmtpServer
    http: httpx.Client

    @property
    def demo(self) -> dict[str, Any]:
        return self.service.demo

    def call(
        self, method: str, path: str, token: str | None = None, body: Any = None
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.http.request(method, API + path, headers=headers, json=body)

    def invite_tokens(self, recipient: str, count: int, timeout: float = 20.0) -> list[str]:
        """The link tokens of the first `count` invites SMTP received for `recipient`, in order."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            mails = [r for r in list(self.smtp.received) if r.rcpt_tos == [recipient]]
            if len(mails) >= count:
                tokens = []
                for received in mails[:count]:
                    text = received.message.get_body(("plain",))
                    assert text is not None
                    (token,) = set(LINK.findall(text.get_content()))
                    tokens.append(token)
                return tokens
            time.sleep(0.05)
        raise AssertionError(f"{count} invite(s) for {recipient} did not arrive within {timeout}s")


@pytest.fixture
def lifecycle(tmp_path: Path, database_url: str, smtp_server: SmtpServer) -> Iterator[Lifecycle]:
    serve = serve_factory(tmp_path, database_url)
    with (
        serve(
            run_outbox_worker=True,
            smtp_url=SecretStr(smtp_server.url),
            outbox_poll_seconds=0.05,
            outbox_backoff_seconds=0.01,
        ) as service,
        httpx.Client(base_url=service.base_url, timeout=30) as http,
    ):
        yield Lifecycle(service, smtp_server, http)


def subrole(lc: Lifecycle, code: str) -> dict[str, Any]:
    response = lc.call(
        "GET", f"/customers/{lc.demo['customer_id']}/subroles", lc.demo["admin_token"]
    )
    assert response.status_code == 200, response.text
    (found,) = [s for s in assert_documented(response)["data"] if s["code"] == code]
    return {"id": found["id"], "code": found["code"], "label": found["label"]}


def new_user_body(lc: Lifecycle, email: str, code: str = "risk_analyst") -> dict[str, Any]:
    return {
        "first_name": "Nora",
        "last_name": "Newcomer",
        "email": email,
        "subrole": subrole(lc, code),
    }


def test_lifecycle__create_mail_accept_bearer_jwks_and_single_use_links(
    lifecycle: Lifecycle,
) -> None:
    lc, demo = lifecycle, lifecycle.demo
    customer, admin = demo["customer_id"], demo["admin_token"]
    email = f"nora.{uuid.uuid4().hex[:8]}@example.com"

    # 1. An admin creates a user; the invite mail arrives over SMTP.
    created = lc.call("POST", f"/customers/{customer}/users", admin, new_user_body(lc, email))
    assert created.status_code == 200, created.text
    body = assert_documented(created)
    assert body["message"] == "Customer user created."
    user_id = body["data"]["user_id"]
    user_path = f"/customers/{customer}/users/{user_id}"
    shown = assert_documented(lc.call("GET", user_path, admin))["data"]
    assert (shown["status"], shown["email"], shown["is_email_verified"]) == (
        "INVITED",
        email,
        False,
    )
    (first_link,) = lc.invite_tokens(email, 1)
    # A resend supersedes the first link; the second mail carries the one to accept.
    assert lc.call("POST", f"{user_path}/resend-invite", admin).status_code == 200
    first_link, second_link = lc.invite_tokens(email, 2)
    assert first_link != second_link

    # 2. The link's token is accepted with a valid password (a weak one gets the published 400).
    weak = lc.call(
        "POST", f"/invite/{second_link}/accept", body={"password": "1234567"}
    )  # breaks all four rules
    assert weak.status_code == 400
    assert (
        assert_documented(weak)["message"] == example_of(400, ACCEPT, "password_rules")["message"]
    )
    superseded = lc.call("POST", f"/invite/{first_link}/accept", body={"password": GOOD_PASSWORD})
    accepted = lc.call("POST", f"/invite/{second_link}/accept", body={"password": GOOD_PASSWORD})
    assert accepted.status_code == 200, accepted.text
    tokens = assert_documented(accepted)
    assert tokens["message"] == "Invitation Accepted."
    assert tokens["data"]["is_email_verified"] is True
    id_token = tokens["data"]["id_token"]

    # 3. The id_token is a bearer the API takes, and it verifies against the live JWKS.
    as_nora = lc.call("GET", user_path, id_token)
    assert as_nora.status_code == 200, as_nora.text
    jwks = jwt.PyJWKClient(lc.service.base_url + "/.well-known/jwks.json")
    assert_documented(lc.http.get("/.well-known/jwks.json"))
    key = jwks.get_signing_key_from_jwt(id_token)
    claims = jwt.decode(
        id_token,
        key.key,
        algorithms=["RS256", "ES256"],
        audience=demo["audience"],
        issuer=demo["issuer"],
        options={"require": ["sub", "customer_id", "permissions", "exp", "iat", "jti"]},
    )
    assert (claims["sub"], claims["customer_id"]) == (user_id, customer)
    assert claims["permissions"] == ["users:read"]
    assert 0 < claims["exp"] - claims["iat"] <= 15 * 60
    assert jwt.get_unverified_header(id_token)["kid"] == key.key_id

    # 4. The user is ACTIVE now, and a resend answers the seed's 400.
    shown = assert_documented(lc.call("GET", user_path, admin))["data"]
    assert (shown["status"], shown["is_email_verified"]) == ("ACTIVE", True)
    resend = lc.call("POST", f"{user_path}/resend-invite", admin)
    assert resend.status_code == 400
    assert assert_documented(resend) == example_of(400)

    # 5. The earlier link is refused, and so is a second accept: one answer for both, and the same
    #    answer as for the link superseded before the user accepted, and for a made-up token.
    again = lc.call("POST", f"/invite/{second_link}/accept", body={"password": GOOD_PASSWORD})
    earlier = lc.call("POST", f"/invite/{first_link}/accept", body={"password": GOOD_PASSWORD})
    made_up = lc.call("POST", f"/invite/{'A' * 43}/accept", body={"password": GOOD_PASSWORD})
    refusals = [superseded, earlier, again, made_up]
    assert {r.status_code for r in refusals} == {400}
    assert all(assert_documented(r) == refusals[0].json() for r in refusals)
    assert refusals[0].json()["errorCode"] == "INVALID_INVITATION"
    assert GOOD_PASSWORD not in "".join(r.text for r in refusals)


def test_lifecycle__a_member_without_users_write_gets_403_on_create(lifecycle: Lifecycle) -> None:
    lc = lifecycle
    response = lc.call(
        "POST",
        f"/customers/{lc.demo['customer_id']}/users",
        lc.demo["member_token"],
        new_user_body(lc, "not.created@example.com"),
    )
    assert response.status_code == 403
    assert assert_documented(response) == {"message": "Forbidden", "errorCode": "ERR_FORBIDDEN"}
    listed = lc.call(
        "GET",
        f"/customers/{lc.demo['customer_id']}/users?search=not.created",
        lc.demo["admin_token"],
    )
    assert assert_documented(listed)["data"]["total_items"] == "0"


def test_lifecycle__another_customers_admin_gets_403_or_404_everywhere(
    lifecycle: Lifecycle,
) -> None:
    lc, demo = lifecycle, lifecycle.demo
    customer, user = demo["customer_id"], demo["invited_user_id"]
    foreign = demo["other_admin_token"]
    body = new_user_body(lc, "intruder@example.com")
    attempts = [
        ("GET", f"/customers/{customer}/users", None),
        ("POST", f"/customers/{customer}/users", body),
        ("GET", f"/customers/{customer}/users/{user}", None),
        ("PATCH", f"/customers/{customer}/users/{user}", {"first_name": "Hacked"}),
        ("POST", f"/customers/{customer}/users/{user}/resend-invite", None),
        ("GET", f"/customers/{customer}/subroles", None),
        # Acme's user under the foreign admin's own customer: not one of its users.
        ("GET", f"/customers/{demo['other_customer_id']}/users/{user}", None),
        ("PATCH", f"/customers/{demo['other_customer_id']}/users/{user}", {"status": "INACTIVE"}),
    ]
    for method, path, payload in attempts:
        response = lc.call(method, path, foreign, payload)
        assert response.status_code in (403, 404), (method, path, response.text)
        assert_documented(response)
        assert "Ivy" not in response.text, response.text
    # Nothing changed for Acme: the user keeps her name and status, no intruder was created.
    shown = assert_documented(
        lc.call("GET", f"/customers/{customer}/users/{user}", demo["admin_token"])
    )
    assert (shown["data"]["first_name"], shown["data"]["status"]) == ("Ivy", "INVITED")
    listed = lc.call("GET", f"/customers/{customer}/users?search=intruder", demo["admin_token"])
    assert assert_documented(listed)["data"]["total_items"] == "0"
