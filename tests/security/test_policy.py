"""The authorization rule over a caller as the database knows them (`Caller`, not the claims)."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from authsvc.errors import Forbidden
from authsvc.security.policy import (
    RESEND_INVITE_PERMISSION,
    USERS_READ_PERMISSION,
    USERS_WRITE_PERMISSION,
    Caller,
    may_act,
    may_resend_invite,
    require,
)

OWN = uuid.UUID(int=1)
OTHER = uuid.UUID(int=2)
SUB = uuid.UUID(int=99)


def _caller(customer: uuid.UUID, permissions: set[str], platform_admin: bool = False) -> Caller:
    return Caller(SUB, customer, platform_admin, frozenset(permissions))


CASES = [
    (_caller(OWN, {RESEND_INVITE_PERMISSION}), OWN, True),
    (_caller(OWN, set()), OWN, False),
    (_caller(OWN, {"users:read", "users:resend-invites"}), OWN, False),
    (_caller(OWN, {RESEND_INVITE_PERMISSION.upper()}), OWN, False),
    (_caller(OWN, {RESEND_INVITE_PERMISSION}), OTHER, False),
    (_caller(OWN, set(), platform_admin=True), OTHER, True),
    (_caller(OWN, set(), platform_admin=True), OWN, True),
]
IDS = [
    "own-customer-with-permission",
    "own-customer-without-permission",
    "own-customer-similar-permissions",
    "own-customer-permission-wrong-case",
    "other-customer-with-permission",
    "platform-admin-other-customer",
    "platform-admin-own-customer",
]


@pytest.mark.parametrize(("caller", "customer", "allowed"), CASES, ids=IDS)
def test_may_resend_invite__table(caller: Caller, customer: uuid.UUID, allowed: bool) -> None:
    assert may_resend_invite(caller, customer) is allowed


@pytest.mark.parametrize(("caller", "customer", "allowed"), CASES, ids=IDS)
def test_require__raises_forbidden_iff_not_allowed(
    caller: Caller, customer: uuid.UUID, allowed: bool
) -> None:
    if allowed:
        require(caller, customer, RESEND_INVITE_PERMISSION)
    else:
        with pytest.raises(Forbidden):
            require(caller, customer, RESEND_INVITE_PERMISSION)


@pytest.mark.parametrize(
    ("subrole", "permission", "allowed"),
    [
        ({USERS_READ_PERMISSION}, USERS_READ_PERMISSION, True),
        ({USERS_READ_PERMISSION}, USERS_WRITE_PERMISSION, False),
        ({USERS_READ_PERMISSION}, RESEND_INVITE_PERMISSION, False),
        ({USERS_WRITE_PERMISSION}, USERS_READ_PERMISSION, False),
    ],
    ids=["read-reads", "read-cannot-write", "read-cannot-resend", "write-does-not-imply-read"],
)
def test_may_act__each_operation_checks_its_own_permission(
    subrole: set[str], permission: str, allowed: bool
) -> None:
    assert may_act(_caller(OWN, subrole), OWN, permission) is allowed


customers = st.sampled_from([uuid.UUID(int=n) for n in range(1, 4)])
permission_sets = st.frozensets(
    st.sampled_from(
        [RESEND_INVITE_PERMISSION, "users:read", "users:resend-invites", "USERS:RESEND-INVITE", ""]
    )
    | st.text(max_size=20)
)
callers = st.builds(
    Caller,
    user_id=st.uuids(),
    customer_id=customers | st.uuids(),
    platform_admin=st.booleans(),
    permissions=permission_sets,
)


@given(caller=callers, customer=customers | st.uuids())
def test_may_resend_invite__property(caller: Caller, customer: uuid.UUID) -> None:
    own_with_permission = (
        caller.customer_id == customer and RESEND_INVITE_PERMISSION in caller.permissions
    )
    assert may_resend_invite(caller, customer) is (caller.platform_admin or own_with_permission)
