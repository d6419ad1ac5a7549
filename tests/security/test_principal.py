from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest

from authsvc.errors import Unauthorized
from authsvc.security.principal import Principal, principal_from_claims

SUB = "5f0c1d6e-9a3b-4c1e-8f2a-1b2c3d4e5f60"
CUSTOMER = "0d9c8b7a-6f5e-4d3c-9b2a-112233445566"


def _claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"sub": SUB}
    base.update(overrides)
    return base


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        (
            _claims(customer_id=CUSTOMER, permissions=["users:resend-invite"], platform_admin=True),
            Principal(SUB, uuid.UUID(CUSTOMER), frozenset({"users:resend-invite"}), True),
        ),
        (_claims(), Principal(SUB, None, frozenset(), False)),
        (
            _claims(sub=SUB.upper(), customer_id=CUSTOMER.upper()),
            Principal(SUB, uuid.UUID(CUSTOMER), frozenset(), False),
        ),
        (
            _claims(permissions=["a", "a", "b"], platform_admin=False),
            Principal(SUB, None, frozenset({"a", "b"}), False),
        ),
        (_claims(permissions=[]), Principal(SUB, None, frozenset(), False)),
    ],
    ids=["all-claims", "only-sub", "upper-case-uuids", "duplicate-permissions", "no-permissions"],
)
def test_principal_from_claims__valid(claims: dict[str, Any], expected: Principal) -> None:
    assert principal_from_claims(claims) == expected


@pytest.mark.parametrize(
    "claims",
    [
        {},
        _claims(sub="alice"),
        _claims(sub=12345),
        _claims(sub=""),
        _claims(sub="{" + SUB + "}"),
        _claims(sub="urn:uuid:" + SUB),
        _claims(sub=SUB.replace("-", "")),
        _claims(sub=SUB + "\n"),
        _claims(customer_id="acme"),
        _claims(customer_id=None),
        _claims(customer_id=42),
        _claims(permissions="users:resend-invite"),
        _claims(permissions=["users:resend-invite", 1]),
        _claims(permissions={"users:resend-invite": True}),
        _claims(permissions=None),
        _claims(platform_admin="true"),
        _claims(platform_admin=1),
        _claims(platform_admin=None),
    ],
    ids=[
        "no-sub",
        "sub-not-uuid",
        "sub-integer",
        "sub-empty",
        "sub-braces",
        "sub-urn",
        "sub-bare-hex",
        "sub-trailing-newline",
        "customer-not-uuid",
        "customer-null",
        "customer-integer",
        "permissions-string",
        "permissions-mixed-types",
        "permissions-object",
        "permissions-null",
        "platform-admin-string",
        "platform-admin-integer",
        "platform-admin-null",
    ],
)
def test_principal_from_claims__invalid(claims: dict[str, Any]) -> None:
    with pytest.raises(Unauthorized) as caught:
        principal_from_claims(claims)
    assert caught.value.message == "Unauthorized"


def test_principal__frozen() -> None:
    principal = Principal(SUB, None, frozenset(), False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        principal.platform_admin = True  # type: ignore[misc]
    assert principal.subject_id == uuid.UUID(SUB)
