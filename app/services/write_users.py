"""Change a customer's users: create one (with its invitation) and apply a PATCH, audited.

Every unit authorizes first (`authsvc.services.authorization`), from the database. Writes are
audited in the same transaction with the actor and the changed fields before and after; nothing
secret (password hashes, tokens) is ever part of an audit event.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from authsvc.config import Settings
from authsvc.db.models import (
    UserStatus,
    normalize_email,
    search_folded,
    subroles_table,
    users_table,
)
from authsvc.db.types import utcnow
from authsvc.errors import (
    CustomerUserDoesNotExist,
    DuplicateEmail,
    InvitationNotAccepted,
    NotFound,
    UnknownSubrole,
)
from authsvc.mail.sealing import OutboxSealer
from authsvc.security.policy import USERS_WRITE_PERMISSION
from authsvc.security.principal import Principal
from authsvc.services.audit import record_event
from authsvc.services.authorization import authorize
from authsvc.services.invitations import issue_invitation, revoke_pending_invitation
from authsvc.services.read_users import CUSTOMER_NOT_FOUND, customer_row
from authsvc.services.sessions import end_user_sessions

_users, _subroles = users_table, subroles_table

# What PATCH may change, in the order audit events list them.
EDITABLE = ("first_name", "last_name", "email", "mobile", "subrole", "status")


@dataclass(frozen=True, slots=True)
class UserChanges:
    """A PATCH body: only the fields present are changed (`subrole_id` for `subrole`)."""

    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    mobile: str | None = None
    subrole_id: uuid.UUID | None = None
    status: str | None = None  # a UserStatus value


_SUBROLE_OF_CUSTOMER = select(_subroles.c.id, _subroles.c.code).where(
    _subroles.c.id == bindparam("subrole_id"), _subroles.c.customer_id == bindparam("customer_id")
)
_LOCK_USER = (
    select(
        _users.c.status,
        _users.c.email,
        _users.c.first_name,
        _users.c.last_name,
        _users.c.mobile,
        _users.c.subrole_id,
        _users.c.is_email_verified,
        _users.c.password_hash.is_not(None).label("has_password"),
    )
    .where(_users.c.id == bindparam("user_id"), _users.c.customer_id == bindparam("customer_id"))
    .with_for_update()
)
_INSERT_USER = insert(_users)


def create_user(
    connection: Connection,
    *,
    settings: Settings,
    sealer: OutboxSealer,
    principal: Principal,
    customer_id: uuid.UUID,
    first_name: str,
    last_name: str,
    email: str,
    mobile: str | None,
    subrole_id: uuid.UUID,
) -> uuid.UUID:
    """An INVITED user, their invitation and its invite mail, atomically; the user's id.

    The same normalised e-mail twice in a customer is refused by the database's unique
    constraint (not check-then-insert), so concurrent creates leave exactly one user.
    """
    caller = authorize(connection, principal, customer_id, USERS_WRITE_PERMISSION)
    customer = customer_row(connection, customer_id)
    if customer is None:
        raise NotFound(CUSTOMER_NOT_FOUND)
    subrole = connection.execute(
        _SUBROLE_OF_CUSTOMER, {"subrole_id": subrole_id, "customer_id": customer_id}
    ).one_or_none()
    if subrole is None:
        raise UnknownSubrole()
    now = utcnow()
    user_id = uuid.uuid4()
    address = email.strip()
    values = {
        "id": user_id,
        "customer_id": customer_id,
        "email": address,
        "email_normalized": normalize_email(email),
        "first_name": first_name,
        "last_name": last_name,
        "mobile": mobile,
        "subrole_id": subrole_id,
        "status": UserStatus.INVITED,
        "is_email_verified": False,
        "is_first_login": True,
        "is_platform_admin": False,
        "password_hash": None,
        "created_at": now,
        "created_by": caller.user_id,
        "updated_at": now,
        "updated_by": caller.user_id,
    }
    _unique_email(connection, lambda: connection.execute(_INSERT_USER, values))
    issue_invitation(
        connection,
        settings,
        sealer=sealer,
        created_by=principal.subject,
        customer_id=customer_id,
        user_id=user_id,
        email=address,
        first_name=first_name,
        customer_name=customer.name,
        now=now,
    )
    changes = {
        "email": address,
        "first_name": first_name,
        "last_name": last_name,
        "mobile": mobile,
        "subrole": subrole.code,
        "status": str(UserStatus.INVITED),
    }
    record_event(
        connection,
        actor=principal.subject,
        action="user.create",
        outcome="success",
        customer_id=customer_id,
        user_id=user_id,
        detail={"changes": {k: {"before": None, "after": v} for k, v in changes.items()}},
    )
    return user_id


def update_user(
    connection: Connection,
    *,
    principal: Principal,
    customer_id: uuid.UUID,
    user_id: uuid.UUID,
    changes: UserChanges,
) -> dict[str, dict[str, Any]]:
    """Apply the changes a PATCH asks for; the audited before/after of what really changed.

    - `status`: ACTIVE <-> INACTIVE; an INVITED user (or one who never accepted) becomes
      ACTIVE only by accepting (`InvitationNotAccepted`). INACTIVE revokes the pending
      invitation and the refresh tokens; bearer tokens stop working at once, because every
      request reads the caller's status.
    - `email` of an INVITED user: the pending link is revoked; no mail is sent (resend does).
      A new address (not only a new spelling) is unverified: `is_email_verified` becomes false.
    """
    caller = authorize(connection, principal, customer_id, USERS_WRITE_PERMISSION)
    current = connection.execute(
        _LOCK_USER, {"user_id": user_id, "customer_id": customer_id}
    ).one_or_none()
    if current is None:
        raise CustomerUserDoesNotExist()
    now = utcnow()
    values: dict[str, Any] = {}
    audit: dict[str, dict[str, Any]] = {}

    def change(field: str, before: Any, after: Any, column: str | None = None) -> None:
        if after is not None and after != before:
            values[column or field] = after
            audit[field] = {"before": before, "after": after}

    change("first_name", current.first_name, changes.first_name)
    change("last_name", current.last_name, changes.last_name)
    change("mobile", current.mobile, changes.mobile)
    if changes.email is not None and normalize_email(changes.email) != normalize_email(
        current.email
    ):
        change("email", current.email, changes.email.strip())
        values["email_normalized"] = normalize_email(changes.email)
        # A new address has never been verified, whoever verified the old one.
        change("is_email_verified", bool(current.is_email_verified), False)
    elif changes.email is not None and changes.email.strip() != current.email:
        change("email", current.email, changes.email.strip())  # only the spelling changes
    if changes.subrole_id is not None and changes.subrole_id != current.subrole_id:
        new = connection.execute(
            _SUBROLE_OF_CUSTOMER,
            {"subrole_id": changes.subrole_id, "customer_id": customer_id},
        ).one_or_none()
        if new is None:
            raise UnknownSubrole()
        old_code = connection.execute(
            select(_subroles.c.code).where(_subroles.c.id == current.subrole_id)
        ).scalar_one_or_none()
        values["subrole_id"] = changes.subrole_id
        audit["subrole"] = {"before": old_code, "after": new.code}
    status = UserStatus(current.status)
    target = None if changes.status is None else UserStatus(changes.status)
    if target is not None and target is not status:
        if target is UserStatus.ACTIVE and (
            status is UserStatus.INVITED or not current.has_password
        ):
            raise InvitationNotAccepted()
        change("status", str(status), str(target))
    if not values:
        return {}
    if {"email", "first_name", "last_name"} & values.keys():
        values["search_folded"] = search_folded(
            values.get("email", current.email),
            values.get("first_name", current.first_name),
            values.get("last_name", current.last_name),
        )
    values.update(updated_at=now, updated_by=caller.user_id)
    statement = (
        update(_users)
        .where(and_(_users.c.id == user_id, _users.c.customer_id == customer_id))
        .values(**values)
    )
    _unique_email(connection, lambda: connection.execute(statement))
    deactivated = values.get("status") == str(UserStatus.INACTIVE)
    revokes_link = deactivated or ("email_normalized" in values and status is UserStatus.INVITED)
    if revokes_link and revoke_pending_invitation(connection, user_id, now):
        audit["invitation"] = {"before": "pending", "after": "revoked"}
    if deactivated:
        ended = end_user_sessions(connection, user_id, reason="deactivated", now=now)
        if ended:
            audit["sessions"] = {"before": "active", "after": f"{ended} ended"}
    record_event(
        connection,
        actor=principal.subject,
        action="user.update",
        outcome="success",
        customer_id=customer_id,
        user_id=user_id,
        detail={"changes": audit},
    )
    return audit


def _unique_email(connection: Connection, write: Any) -> None:
    """Run `write` in a savepoint: the unique (customer, e-mail) constraint is `DuplicateEmail`.

    The savepoint keeps the transaction usable on PostgreSQL, where a failed statement aborts it;
    the write path's retry of IntegrityError (a lost race) must not apply to this one.
    """
    try:
        with connection.begin_nested():
            write()
    except IntegrityError as exc:
        if "email" in str(exc.orig).lower() or "uq_users_customer_email" in str(exc.orig):
            raise DuplicateEmail() from None
        raise
