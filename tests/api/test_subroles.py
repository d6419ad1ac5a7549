"""GET /customers/{customerID}/subroles through the ASGI app, every documented answer."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.support.contract_check import assert_documented, example_of
from tests.support.lifecycle import BASE, SUBROLES, bearer


def subroles_url(customer_id: Any) -> str:
    return f"{BASE}/customers/{customer_id}/subroles"


@pytest.mark.parametrize("token", ["admin_token", "member_token"], ids=["admin", "read-only"])
def test_subroles__the_seeded_three(client: TestClient, demo: dict[str, Any], token: str) -> None:
    response = client.get(subroles_url(demo["customer_id"]), headers=bearer(demo[token]))
    assert response.status_code == 200
    body = assert_documented(response, SUBROLES)
    assert body["message"] == example_of(200, SUBROLES)["message"]
    assert [(s["code"], s["label"], s["display_name"]) for s in body["data"]] == [
        ("admin", "Admin", "Admin"),
        ("cro", "CRO", "CRO"),
        ("risk_analyst", "Risk Analyst", "Risk Analyst"),
    ]


def test_subroles__each_customer_has_its_own(client: TestClient, demo: dict[str, Any]) -> None:
    token = bearer(demo["platform_admin_token"])
    acme = client.get(subroles_url(demo["customer_id"]), headers=token).json()["data"]
    globex = client.get(subroles_url(demo["other_customer_id"]), headers=token).json()["data"]
    assert [s["code"] for s in acme] == [s["code"] for s in globex]
    assert not {s["id"] for s in acme} & {s["id"] for s in globex}


def test_subroles__unknown_customer_is_the_published_400(
    client: TestClient, demo: dict[str, Any]
) -> None:
    response = client.get(subroles_url(uuid.uuid4()), headers=bearer(demo["platform_admin_token"]))
    assert response.status_code == 400
    assert assert_documented(response, SUBROLES) == example_of(400, SUBROLES)


@pytest.mark.parametrize(
    ("token", "status"),
    [("other_admin_token", 403), (None, 401), ("not-a-jwt", 401)],
    ids=["another-customers-admin", "no-token", "garbage-token"],
)
def test_subroles__refused(
    client: TestClient, demo: dict[str, Any], token: str | None, status: int
) -> None:
    headers = bearer(demo.get(token, token)) if token else {}
    response = client.get(subroles_url(demo["customer_id"]), headers=headers)
    assert response.status_code == status
    assert_documented(response, SUBROLES)


def test_subroles__malformed_customer_id_is_400(client: TestClient, demo: dict[str, Any]) -> None:
    response = client.get(subroles_url("nope"), headers=bearer(demo["admin_token"]))
    assert response.status_code == 400
    assert assert_documented(response, SUBROLES)["errorCode"] == "VALIDATION_ERROR"
