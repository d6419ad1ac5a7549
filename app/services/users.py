"""A customer's users: list, create, get and update, each a unit of work in one transaction.

Every unit authorizes first (`authsvc.services.authorization`), from the database. Writes are
audited in the same transaction with the actor and the changed fields before and after; nothing
secret (password hashes, tokens) is ever part of an audit event.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Select,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from authsvc.config import Settings
from authsvc.db.models import (
    UserStatus,
    customers_table,
    normalize_email,
    subroles_table,
    users_table,
)
from authsvc.db.types import utcnow
from authsvc.errors import (
    CustomerUserDoesNotExist,
    CustomerUserNotFound,
    DuplicateEmail,
    InvitationNotAccepted,
    NotFound,
    UnknownSubrole,
)
from authsvc.security.policy import USERS_READ_PERMISSION, USERS_WRITE_PERMISSION
from authsvc.security.principal import Principal
from authsvc.services.audit import record_event
from authsvc.services.authorization import authorize
from authsvc.services.invites import issue_invitation, revoke_pending_invitation
from authsvc.services.sessions import end_user_sessions

_users, _subroles, _customers = users_table, subroles_table, customers_table

CUSTOMER_NOT_FOUND = "Customer not found"
# What PATCH may change, in the order audit events list them.
EDITABLE = ("first_name", "last_name", "email", "mobile", "subrole", "status")


def published_time(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with a `Z`, as the published list examples write it."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _uuid_or_none(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class UserFilters:
    """The list's query parameters (documented in the contract)."""

    page: int = 1
    items_per_page: int = 20
    status: str | None = None
    subrole: str | None = None  # a subrole code
    search: str | None = None  # case-insensitive substring of e-mail, first or last name


@dataclass(frozen=True, slots=True)
class UserPage:
    records: list[dict[str, Any]]
    total_items: int
    total_pages: int

    def as_published(self) -> dict[str, Any]:
        # `total_items` is a string and `total_pages` an integer, as published.
        return {
            "records": self.records,
            "total_pages": self.total_pages,
            "total_items": str(self.total_items),
        }


@dataclass(frozen=True, slots=True)
class UserChanges:
    """A PATCH body: only the fields present are changed (`subrole_id` for `subrole`)."""

    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    mobile: str | None = None
    subrole_id: uuid.UUID | None = None
    status: str | None = None  # a UserStatus value


_USER_COLUMNS = (
    _users.c.id,
    _users.c.customer_id,
    _users.c.first_name,
    _users.c.last_name,
    _users.c.email,
    _users.c.mobile,
    _users.c.is_email_verified,
    _users.c.is_first_login,
    _users.c.created_at,
    _users.c.created_by,
    _users.c.updated_at,
    _users.c.updated_by,
    _users.c.status,
    _subroles.c.id.label("subrole_id"),
    _subroles.c.code.label("subrole_code"),
    _subroles.c.label.label("subrole_label"),
    _subroles.c.display_name.label("subrole_display_name"),
    _subroles.c.description.label("subrole_description"),
    _subroles.c.role_id.label("subrole_role_id"),
)
_USERS_WITH_SUBROLE = _users.outerjoin(_subroles, _subroles.c.id == _users.c.subrole_id)
_CUSTOMER = select(
    _customers.c.id,
    _customers.c.name,
    _customers.c.contact_number,
    _customers.c.is_active,
    _customers.c.created_at,
    _customers.c.updated_at,
).where(_customers.c.id == bindparam("customer_id"))
_USER = (
    select(*_USER_COLUMNS)
    .select_from(_USERS_WITH_SUBROLE)
    .where(_users.c.id == bindparam("user_id"), _users.c.customer_id == bindparam("customer_id"))
)
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
        _users.c.password_hash.is_not(None).label("has_password"),
    )
    .where(_users.c.id == bindparam("user_id"), _users.c.customer_id == bindparam("customer_id"))
    .with_for_update()
)
_INSERT_USER = insert(_users)


def _record(row: Any) -> dict[str, Any]:
    """A user as the published list and get pages show one."""
    subrole = None
    if row.subrole_id is not None:
        subrole = {
            "id": str(row.subrole_id),
            "code": row.subrole_code,
            "label": row.subrole_label,
            "display_name": row.subrole_display_name,
            "description": row.subrole_description,
            "role_id": row.subrole_role_id,
        }
    return {
        "id": str(row.id),
        "first_name": row.first_name,
        "last_name": row.last_name,
        "email": row.email,
        "mobile": row.mobile,
        "is_email_verified": bool(row.is_email_verified),
        "is_first_login": bool(row.is_first_login),
        "created_at": published_time(row.created_at),
        "created_by": _uuid_or_none(row.created_by),
        "updated_at": published_time(row.updated_at),
        "updated_by": _uuid_or_none(row.updated_by),
        "status": str(row.status),
        "subrole": subrole,
    }


def _customer_exists(connection: Connection, customer_id: uuid.UUID) -> Any:
    return connection.execute(_CUSTOMER, {"customer_id": customer_id}).one_or_none()


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filtered(query: Select[Any], customer_id: uuid.UUID, filters: UserFilters) -> Select[Any]:
    query = query.where(_users.c.customer_id == customer_id)
    if filters.status is not None:
        query = query.where(_users.c.status == filters.status)
    if filters.subrole is not None:
        query = query.where(_subroles.c.code == filters.subrole)
    if filters.search:
        pattern = f"%{_escape_like(filters.search.lower())}%"
        query = query.where(
            or_(
                *(
                    func.lower(column).like(pattern, escape="\\")
                    for column in (_users.c.email, _users.c.first_name, _users.c.last_name)
                )
            )
        )
    return query


@dataclass(frozen=True)
class UserService:
    settings: Settings

    def list_users(
        self,
        connection: Connection,
        *,
        principal: Principal,
        customer_id: uuid.UUID,
        filters: UserFilters,
    ) -> UserPage:
        """One page of the customer's users in a stable order (created_at, then id)."""
        authorize(connection, principal, customer_id, USERS_READ_PERMISSION)
        if _customer_exists(connection, customer_id) is None:
            raise NotFound(CUSTOMER_NOT_FOUND)  # only a platform admin gets this far
        count = _filtered(
            select(func.count()).select_from(_USERS_WITH_SUBROLE), customer_id, filters
        )
        total = int(connection.execute(count).scalar_one())
        rows = connection.execute(
            _filtered(select(*_USER_COLUMNS).select_from(_USERS_WITH_SUBROLE), customer_id, filters)
            .order_by(_users.c.created_at, _users.c.id)
            .limit(filters.items_per_page)
            .offset((filters.page - 1) * filters.items_per_page)
        ).all()
        return UserPage(
            records=[_record(row) for row in rows],
            total_items=total,
            total_pages=math.ceil(total / filters.items_per_page),
        )

    def get_user(
        self,
        connection: Connection,
        *,
        principal: Principal,
        customer_id: uuid.UUID,
        user_id: uuid.UUID,
    ) -> dict[str, Any]:
        """The user with the company record of their customer; 404 unless one of its users."""
        authorize(connection, principal, customer_id, USERS_READ_PERMISSION)
        row = connection.execute(
            _USER, {"user_id": user_id, "customer_id": customer_id}
        ).one_or_none()
        customer = _customer_exists(connection, customer_id) if row is not None else None
        if row is None or customer is None:
            raise CustomerUserNotFound()
        record = _record(row)
        record["company_details"] = {
            "id": str(customer.id),
            "name": customer.name,
            "contact_number": customer.contact_number,
            "is_active": bool(customer.is_active),
            "created_at": published_time(customer.created_at),
            "created_by": None,
            "updated_at": published_time(customer.updated_at),
            "updated_by": None,
        }
        return record

    def create_user(
        self,
        connection: Connection,
        *,
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
        customer = _customer_exists(connection, customer_id)
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
            self.settings,
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
        self,
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
        values.update(updated_at=now, updated_by=caller.user_id)
        statement = (
            update(_users)
            .where(and_(_users.c.id == user_id, _users.c.customer_id == customer_id))
            .values(**values)
        )
        _unique_email(connection, lambda: connection.execute(statement))
        deactivated = values.get("status") == str(UserStatus.INACTIVE)
        revokes_link = deactivated or (
            "email_normalized" in values and status is UserStatus.INVITED
        )
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
