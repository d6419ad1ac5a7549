from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from authsvc.errors import Forbidden
from authsvc.security.policy import may_resend_invite, require_resend_invite
from authsvc.security.principal import RESEND_INVITE_PERMISSION, Principal

OWN = uuid.UUID(int=1)
OTHER = uuid.UUID(int=2)
SUB = str(uuid.UUID(int=99))


def _principal(
    customer: uuid.UUID | None, permissions: set[str], platform_admin: bool = False
) -> Principal:
    return Principal(SUB, customer, frozenset(permissions), platform_admin)


CASES = [
    (_principal(OWN, {RESEND_INVITE_PERMISSION}), OWN, True),
    (_principal(OWN, set()), OWN, False),
    (_principal(OWN, {"users:read", "users:resend-invites"}), OWN, False),
    (_principal(OWN, {RESEND_INVITE_PERMISSION.upper()}), OWN, False),
    (_principal(OWN, {RESEND_INVITE_PERMISSION}), OTHER, False),
    (_principal(None, {RESEND_INVITE_PERMISSION}), OWN, False),
    (_principal(None, set(), platform_admin=True), OTHER, True),
    (_principal(OWN, set(), platform_admin=True), OTHER, True),
]
IDS = [
    "own-customer-with-permission",
    "own-customer-without-permission",
    "own-customer-similar-permissions",
    "own-customer-permission-wrong-case",
    "other-customer-with-permission",
    "no-customer-with-permission",
    "platform-admin-without-customer",
    "platform-admin-other-customer",
]


@pytest.mark.parametrize(("principal", "customer", "allowed"), CASES, ids=IDS)
def test_may_resend_invite__table(principal: Principal, customer: uuid.UUID, allowed: bool) -> None:
    assert may_resend_invite(principal, customer) is allowed


@pytest.mark.parametrize(("principal", "customer", "allowed"), CASES, ids=IDS)
def test_require_resend_invite__raises_forbidden_iff_not_allowed(
    principal: Principal, customer: uuid.UUID, allowed: bool
) -> None:
    if allowed:
        require_resend_invite(principal, customer)
    else:
        with pytest.raises(Forbidden):
            require_resend_invite(principal, customer)


# A small pool of customers so that "own customer" comes up often.
customers = st.sampled_from([uuid.UUID(int=n) for n in range(1, 4)])
permission_sets = st.frozensets(
    st.sampled_from(
        [RESEND_INVITE_PERMISSION, "users:read", "users:resend-invites", "USERS:RESEND-INVITE", ""]
    )
    | st.text(max_size=20)
)
principals = st.builds(
    Principal,
    subject=st.uuids().map(str),
    customer_id=st.none() | customers | st.uuids(),
    permissions=permission_sets,
    platform_admin=st.booleans(),
)


@given(principal=principals, customer=customers | st.uuids())
def test_may_resend_invite__property(principal: Principal, customer: uuid.UUID) -> None:
    own_with_permission = (
        principal.customer_id == customer and RESEND_INVITE_PERMISSION in principal.permissions
    )
    assert may_resend_invite(principal, customer) is (
        principal.platform_admin or own_with_permission
    )
