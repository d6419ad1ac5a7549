"""HEAD is not in the contract: on a GET operation it is the 405 of any undocumented method.

Starlette serves HEAD wherever GET is routed, which answered 200 with an empty body that the
contract does not describe (issue 18, item 10).
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.support.lifecycle import BASE, bearer, users_url

CUSTOMER = "{customer}"
PATHS = [
    ("users", f"{BASE}/customers/{CUSTOMER}/users", "GET, POST"),
    ("user", f"{BASE}/customers/{CUSTOMER}/users/{{user}}", "GET, PATCH"),
    ("subroles", f"{BASE}/customers/{CUSTOMER}/subroles", "GET"),
    ("healthz", "/healthz", "GET"),
    ("jwks", "/.well-known/jwks.json", "GET"),
]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("path", "allow"), [p[1:] for p in PATHS], ids=[p[0] for p in PATHS])
def test_head_on_a_get_operation__405_with_allow_like_any_undocumented_method(
    client: TestClient, demo: dict[str, Any], path: str, allow: str
) -> None:
    url = path.format(customer=demo["customer_id"], user=demo["active_user_id"])
    headers = bearer(demo["admin_token"])
    head = client.head(url, headers=headers)
    put = client.put(url, headers=headers)  # undocumented everywhere
    assert head.status_code == put.status_code == 405
    assert head.headers["Allow"] == put.headers["Allow"] == allow
    assert head.headers["content-type"] == "application/json"
    assert head.content == b""  # an answer to HEAD has no body
    assert client.get(url, headers=headers).status_code == 200  # GET itself is untouched


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_head_on_an_unknown_path__404_like_any_method(
    client: TestClient, demo: dict[str, Any]
) -> None:
    url = users_url(demo["customer_id"]) + "/nowhere/at/all"
    assert client.head(url).status_code == client.get(url).status_code == 404
