"""Authorization rules: what a caller, as the database knows them, may do. Pure functions.

A `Caller` is read from the database on every request (`authsvc.services.authorization`): the
stored customer, the platform-admin flag and the stored subrole's permissions. Token claims never
grant anything: `permissions` and `platform_admin` in a token are ignored.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from authsvc.errors import Forbidden
from authsvc.security.principal import (
    RESEND_INVITE_PERMISSION,
    USERS_READ_PERMISSION,
    USERS_WRITE_PERMISSION,
)

__all__ = [
    "RESEND_INVITE_PERMISSION",
    "USERS_READ_PERMISSION",
    "USERS_WRITE_PERMISSION",
    "Caller",
    "may_act",
    "may_resend_invite",
    "require",
]


@dataclass(frozen=True, slots=True)
class Caller:
    """An ACTIVE user whose token agreed with the database about who and where they are."""

    user_id: uuid.UUID
    customer_id: uuid.UUID
    platform_admin: bool
    permissions: frozenset[str]


def may_act(caller: Caller, customer_id: uuid.UUID, permission: str) -> bool:
    """Platform admins: anything, for any customer; others: their own customer, by permission."""
    if caller.platform_admin:
        return True
    return caller.customer_id == customer_id and permission in caller.permissions


def may_resend_invite(caller: Caller, customer_id: uuid.UUID) -> bool:
    return may_act(caller, customer_id, RESEND_INVITE_PERMISSION)


def require(caller: Caller, customer_id: uuid.UUID, permission: str) -> None:
    """`Forbidden` unless `may_act` allows it."""
    if not may_act(caller, customer_id, permission):
        raise Forbidden()
