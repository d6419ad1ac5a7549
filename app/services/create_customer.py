"""Creating a customer with its first admin: how a deployment gets its first user.

No operation creates a customer (the contract starts from one), so `authsvc admin create-customer`
runs this unit of work: the customer, its seeded subroles, its first admin (INVITED, subrole
`admin`), the admin's invitation with its mail in the outbox, and the audit events, all in one
transaction. It is idempotent on what it is given: the same name and e-mail again find the
customer and change nothing (nor send anything); with `resend`, an admin who has not accepted gets
a new invitation (the old link stops working), exactly as `resend-invite` would. Anything else that
already holds the e-mail address or the name is a `BootstrapConflict`, never a second account.

Two runs at once are serialised (PostgreSQL: a transaction-scoped advisory lock; SQLite: the write
lock of `BEGIN IMMEDIATE`), because neither the name nor the address is unique across customers.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, text

from authsvc.config import Settings
from authsvc.db.models import (
    UserStatus,
    customers_table,
    default_subrole_rows,
    normalize_email,
    subroles_table,
    users_table,
)
from authsvc.db.types import utcnow
from authsvc.mail.sealing import OutboxSealer
from authsvc.services.audit import record_event
from authsvc.services.invitations import issue_invitation

ACTOR = "authsvc-admin"  # the audit trail's actor for what the operator's command line did
ADMIN_SUBROLE = "admin"
# Any constant: two bootstraps at once wait for each other on it (PostgreSQL only).
_ADVISORY_LOCK_KEY = 0x617574687376_63  # "authsvc" + 'c'

_users, _customers, _subroles = users_table, customers_table, subroles_table

_HOLDERS_OF_ADDRESS = (
    select(
        _users.c.id,
        _users.c.status,
        _users.c.first_name,
        _customers.c.id.label("customer_id"),
        _customers.c.name.label("customer_name"),
        _subroles.c.code.label("subrole_code"),
    )
    .select_from(
        _users.join(_customers, _customers.c.id == _users.c.customer_id).outerjoin(
            _subroles, _subroles.c.id == _users.c.subrole_id
        )
    )
    .where(_users.c.email_normalized == bindparam("email"))
)
_CUSTOMER_NAMED = select(_customers.c.id).where(func.lower(_customers.c.name) == bindparam("name"))


class Outcome(enum.StrEnum):
    CREATED = "created"  # customer, admin and invitation are new; the invite mail is queued
    REINVITED = "re-invited"  # the admin had not accepted: a new invitation and mail
    UNCHANGED = "unchanged"  # everything was there already; nothing written, nothing sent


@dataclass(frozen=True, slots=True)
class BootstrapResult:
    customer_id: uuid.UUID
    admin_user_id: uuid.UUID
    outcome: Outcome
    admin_status: UserStatus


class BootstrapConflict(Exception):
    """The name or the address already belongs to something else; nothing was written."""


def create_customer(
    connection: Connection,
    settings: Settings,
    *,
    sealer: OutboxSealer,
    name: str,
    admin_email: str,
    first_name: str,
    last_name: str,
    resend: bool = False,
) -> BootstrapResult:
    """The customer and its first admin, created once; a unit of work in a write transaction."""
    name = " ".join(name.split())
    address = admin_email.strip()
    if not name:
        raise BootstrapConflict("--name: a customer needs a name")
    if "@" not in address or address != " ".join(address.split()):
        raise BootstrapConflict("--admin-email: not an e-mail address")
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
    holders = connection.execute(_HOLDERS_OF_ADDRESS, {"email": normalize_email(address)}).all()
    if holders:
        return _existing(
            connection, settings, sealer, holders, name=name, address=address, resend=resend
        )
    if connection.execute(_CUSTOMER_NAMED, {"name": name.lower()}).first() is not None:
        raise BootstrapConflict(
            "--name: a customer with this name exists, and its admin has another e-mail address"
        )
    return _create(
        connection, settings, sealer, name=name, address=address, first=first_name, last=last_name
    )


def _existing(
    connection: Connection,
    settings: Settings,
    sealer: OutboxSealer,
    holders: Sequence[Any],
    *,
    name: str,
    address: str,
    resend: bool,
) -> BootstrapResult:
    """The same bootstrap again (nothing to do, or a resend), or the conflict it is not."""
    same = [
        row
        for row in holders
        if row.customer_name.lower() == name.lower() and row.subrole_code == ADMIN_SUBROLE
    ]
    if not same:
        raise BootstrapConflict(
            "--admin-email: this address is already a user of another customer "
            "(or not that customer's admin)"
        )
    admin = same[0]
    customer_id: uuid.UUID = admin.customer_id
    user_id: uuid.UUID = admin.id
    status = UserStatus(admin.status)
    if not resend or status is not UserStatus.INVITED:
        return BootstrapResult(customer_id, user_id, Outcome.UNCHANGED, status)
    now = utcnow()
    issue_invitation(
        connection,
        settings,
        sealer=sealer,
        created_by=ACTOR,
        customer_id=customer_id,
        user_id=user_id,
        email=address,
        first_name=admin.first_name or "",
        customer_name=admin.customer_name,
        now=now,
        counted=False,  # the operator's own bootstrap: no invitation-mail limit
    )
    record_event(
        connection,
        actor=ACTOR,
        action="invite.resend",
        outcome="success",
        customer_id=customer_id,
        user_id=user_id,
    )
    return BootstrapResult(customer_id, user_id, Outcome.REINVITED, status)


def _create(
    connection: Connection,
    settings: Settings,
    sealer: OutboxSealer,
    *,
    name: str,
    address: str,
    first: str,
    last: str,
) -> BootstrapResult:
    now = utcnow()
    customer_id, user_id = uuid.uuid4(), uuid.uuid4()
    connection.execute(
        insert(_customers),
        {
            "id": customer_id,
            "name": name,
            "contact_number": None,
            "is_active": True,
            "created_at": now,
            "updated_at": now,
        },
    )
    subroles = default_subrole_rows(customer_id)
    connection.execute(insert(_subroles), subroles)
    admin_subrole = next(row["id"] for row in subroles if row["code"] == ADMIN_SUBROLE)
    connection.execute(
        insert(_users),
        {
            "id": user_id,
            "customer_id": customer_id,
            "email": address,
            "email_normalized": normalize_email(address),
            "first_name": first,
            "last_name": last,
            "mobile": None,
            "subrole_id": admin_subrole,
            "status": UserStatus.INVITED,
            "is_email_verified": False,
            "is_first_login": True,
            "is_platform_admin": False,
            "password_hash": None,
            "created_at": now,
            "created_by": None,
            "updated_at": now,
            "updated_by": None,
        },
    )
    issue_invitation(
        connection,
        settings,
        sealer=sealer,
        created_by=ACTOR,
        customer_id=customer_id,
        user_id=user_id,
        email=address,
        first_name=first,
        customer_name=name,
        now=now,
        counted=False,  # the operator's own bootstrap: no invitation-mail limit
    )
    _audit_creation(connection, customer_id, user_id, name=name, address=address)
    return BootstrapResult(customer_id, user_id, Outcome.CREATED, UserStatus.INVITED)


def _audit_creation(
    connection: Connection,
    customer_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    name: str,
    address: str,
) -> None:
    record_event(
        connection,
        actor=ACTOR,
        action="customer.create",
        outcome="success",
        customer_id=customer_id,
        detail={"changes": {"name": {"before": None, "after": name}}},
    )
    record_event(
        connection,
        actor=ACTOR,
        action="user.create",
        outcome="success",
        customer_id=customer_id,
        user_id=user_id,
        detail={
            "changes": {
                "email": {"before": None, "after": address},
                "subrole": {"before": None, "after": ADMIN_SUBROLE},
                "status": {"before": None, "after": str(UserStatus.INVITED)},
            }
        },
    )
