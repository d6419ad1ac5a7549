"""Read a customer's users: the list (filters, pages) and one user with their company record.

Every unit authorizes first (`authsvc.services.authorization`), from the database; each is a
function of a `Connection` run on the read threads.
"""

from __future__ import annotations

import functools
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, FromClause, Integer, Select, bindparam, func, select

from authsvc.db.models import customers_table, subroles_table, users_table
from authsvc.errors import CustomerUserNotFound, NotFound
from authsvc.security.policy import USERS_READ_PERMISSION
from authsvc.security.principal import Principal
from authsvc.services.authorization import authorize

_users, _subroles, _customers = users_table, subroles_table, customers_table

CUSTOMER_NOT_FOUND = "Customer not found"


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


def customer_row(connection: Connection, customer_id: uuid.UUID) -> Any:
    return connection.execute(_CUSTOMER, {"customer_id": customer_id}).one_or_none()


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _matching(
    columns: tuple[Any, ...], *, status: bool, subrole: bool, search: bool
) -> Select[Any]:
    """`columns` of the customer's users that pass the filters given (values bound at execution).

    Subroles are joined only to filter on one: any join on `subrole_id`, even an outer join the
    planner removes, makes PostgreSQL fetch every user's row for that column, where the count and
    a page's ids are otherwise read from an index alone (bench/results/2026-12-05-list-profile.md).
    """
    source: FromClause = _users
    if subrole:
        source = _users.join(_subroles, _subroles.c.id == _users.c.subrole_id)
    query = (
        select(*columns).select_from(source).where(_users.c.customer_id == bindparam("customer_id"))
    )
    if status:
        query = query.where(_users.c.status == bindparam("status"))
    if subrole:
        query = query.where(_subroles.c.code == bindparam("subrole"))
    if search:
        query = query.where(_users.c.search_folded.like(bindparam("pattern"), escape="\\"))
    return query


@functools.cache
def _list_statements(
    *, status: bool, subrole: bool, search: bool
) -> tuple[Select[Any], Select[Any]]:
    """The count and the page for one combination of filters, built once (eight at most).

    Building and keying the two statements anew cost about 0.17 ms of CPU per request; built
    once, SQLAlchemy finds their compiled form by a memoized key.
    """
    # The count, asked of the customer's row: no row means no customer, and that check costs no
    # round trip of its own.
    count = _matching((func.count(),), status=status, subrole=subrole, search=search)
    counted = select(count.scalar_subquery()).where(_customers.c.id == bindparam("customer_id"))
    # The page's ids first, then their rows: the (customer_id, created_at, id) index gives the
    # ids in order without a visit to the table, so a deep page skips index entries, not rows.
    ids = (
        _matching((_users.c.id, _users.c.created_at), status=status, subrole=subrole, search=search)
        .order_by(_users.c.created_at, _users.c.id)
        .limit(bindparam("limit", type_=Integer))
        .offset(bindparam("offset", type_=Integer))
        .subquery("page")
    )
    page = (
        select(*_USER_COLUMNS)
        .select_from(
            ids.join(_users, _users.c.id == ids.c.id).outerjoin(
                _subroles, _subroles.c.id == _users.c.subrole_id
            )
        )
        .order_by(ids.c.created_at, ids.c.id)
    )
    return counted, page


def list_users(
    connection: Connection,
    *,
    principal: Principal,
    customer_id: uuid.UUID,
    filters: UserFilters,
) -> UserPage:
    """One page of the customer's users in a stable order (created_at, then id)."""
    authorize(connection, principal, customer_id, USERS_READ_PERMISSION)
    count, page = _list_statements(
        status=filters.status is not None,
        subrole=filters.subrole is not None,
        search=bool(filters.search),
    )
    values: dict[str, Any] = {"customer_id": customer_id}
    if filters.status is not None:
        values["status"] = filters.status
    if filters.subrole is not None:
        values["subrole"] = filters.subrole
    if filters.search:
        # Both sides folded by Python's casefold(): the same answer on SQLite and PostgreSQL.
        values["pattern"] = f"%{_escape_like(filters.search.casefold())}%"
    total = connection.execute(count, values).scalar_one_or_none()
    if total is None:
        raise NotFound(CUSTOMER_NOT_FOUND)  # only a platform admin gets this far
    values["limit"] = filters.items_per_page
    values["offset"] = (filters.page - 1) * filters.items_per_page
    rows = connection.execute(page, values).all()
    return UserPage(
        records=[_record(row) for row in rows],
        total_items=int(total),
        total_pages=math.ceil(total / filters.items_per_page),
    )


def get_user(
    connection: Connection,
    *,
    principal: Principal,
    customer_id: uuid.UUID,
    user_id: uuid.UUID,
) -> dict[str, Any]:
    """The user with the company record of their customer; 404 unless one of its users."""
    authorize(connection, principal, customer_id, USERS_READ_PERMISSION)
    row = connection.execute(_USER, {"user_id": user_id, "customer_id": customer_id}).one_or_none()
    customer = customer_row(connection, customer_id) if row is not None else None
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
