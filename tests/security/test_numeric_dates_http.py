"""RFC 7519 NumericDate through HTTP: a dev-key token whose time claims are strings gets the 401."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from starlette.testclient import TestClient

from authsvc.config import Settings
from authsvc.security.keys import load_or_create_dev_keys
from tests.support.contract_check import assert_documented

BASE = "/auth/api/v1"


def _resign(token: str, settings: Settings, **overrides: Any) -> str:
    """The demo token with some claims changed, signed again with the dev key (so it is genuine)."""
    keys = load_or_create_dev_keys(settings.data_dir)
    claims = {**jwt.decode(token, options={"verify_signature": False}), **overrides}
    return jwt.encode(claims, keys.private_pem, algorithm="RS256", headers={"kid": keys.kid})


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({}, 200),
        ({"exp": "99999999999"}, 401),
        ({"iat": "1700000000"}, 401),
        ({"iat": True}, 401),
    ],
    ids=["numbers", "exp-string", "iat-string", "iat-boolean"],
)
def test_resend_invite__time_claims_must_be_json_numbers(
    client: TestClient,
    demo: dict[str, Any],
    settings: Settings,
    overrides: dict[str, Any],
    status: int,
) -> None:
    token = _resign(demo["admin_token"], settings, **overrides)
    response = client.post(
        f"{BASE}/customers/{demo['customer_id']}/users/{demo['invited_user_id']}/resend-invite",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == status
    if status == 401:
        assert assert_documented(response) == {
            "message": "Unauthorized",
            "errorCode": "ERR_UNAUTHORIZED",
        }
