"""Who the caller is, according to the database: the one authorization mechanism of every operation.

Each use case calls `authorize` first, inside its own transaction, so the answer reflects the
database at that moment: a user deactivated a second ago, or moved to another subrole, is refused
(or limited) on their very next request, whatever their token says. One query, by primary key.

The rules (docs/contract.md, Authorization):
- 401 unless the token's `sub` is a stored user who is ACTIVE, of an active customer, and the
  token's `customer_id` is that user's stored customer: a token that lies about its tenant is not
  a credential for that user.
- 401 unless the token's session (`sid`) is live: not ended (logout, reuse, reset,
  deactivation), within its idle and absolute lifetimes. The session row comes in the same query
  (an outer join), so this costs no extra round trip. A token without `sid` (another issuer's)
  must be issued after the user's `tokens_valid_after` (deactivation, password reset).
- `permissions` and `platform_admin` claims are ignored: permissions come from the stored subrole,
  platform admin from the stored flag.
- 403 unless the caller may act for the customer in the path with the operation's permission.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from sqlalchemy import Connection, and_, bindparam, select

from authsvc.db.models import (
    UserStatus,
    customers_table,
    sessions_table,
    subroles_table,
    users_table,
)
from authsvc.db.types import utcnow
from authsvc.errors import Unauthorized
from authsvc.security.policy import Caller, require
from authsvc.security.principal import Principal

_users, _subroles, _customers = users_table, subroles_table, customers_table
_sessions = sessions_table

# Built once: the statement is compiled and cached by SQLAlchemy after its first use.
# The subrole whose permissions a user holds: a subrole of another customer grants nothing, should
# one ever be assigned. Every query that reads a user's permissions joins on this.
USER_SUBROLE = and_(
    _subroles.c.id == _users.c.subrole_id, _subroles.c.customer_id == _users.c.customer_id
)

_CALLER = (
    select(
        _users.c.customer_id,
        _users.c.status,
        _users.c.is_platform_admin,
        _customers.c.is_active.label("customer_active"),
        _subroles.c.permissions,
        _users.c.tokens_valid_after,
        _sessions.c.id.label("session_live"),
    )
    .select_from(
        _users.join(_customers, _customers.c.id == _users.c.customer_id)
        .outerjoin(_subroles, USER_SUBROLE)
        .outerjoin(
            _sessions,
            and_(
                _sessions.c.id == bindparam("session_id"),
                _sessions.c.user_id == _users.c.id,
                _sessions.c.ended_at.is_(None),
                _sessions.c.expires_at > bindparam("now"),
                _sessions.c.idle_expires_at > bindparam("now"),
            ),
        )
    )
    .where(_users.c.id == bindparam("caller_id"))
)


def load_caller(connection: Connection, principal: Principal) -> Caller:
    """The stored caller behind a verified token; `Unauthorized` if the database disagrees."""
    now = utcnow()
    row = connection.execute(
        _CALLER,
        {"caller_id": principal.subject_id, "session_id": principal.session_id, "now": now},
    ).one_or_none()
    if (
        row is None
        or row.status != UserStatus.ACTIVE
        or not row.customer_active
        or principal.customer_id != row.customer_id
        or not _session_holds(principal, row.session_live, row.tokens_valid_after)
    ):
        raise Unauthorized()
    permissions = row.permissions if isinstance(row.permissions, list) else []
    return Caller(
        user_id=principal.subject_id,
        customer_id=row.customer_id,
        platform_admin=bool(row.is_platform_admin),
        permissions=frozenset(p for p in permissions if isinstance(p, str)),
    )


def _session_holds(principal: Principal, session_live: Any, valid_after: Any) -> bool:
    if principal.session_id is not None:
        return session_live is not None
    if valid_after is None:
        return True
    # `iat` has whole seconds: a token of the same second as the cut is refused (the safe side).
    return bool(principal.issued_at >= math.ceil(valid_after.timestamp()))


def authorize(
    connection: Connection, principal: Principal, customer_id: uuid.UUID, permission: str
) -> Caller:
    """`load_caller`, then `Forbidden` unless it may use `permission` for `customer_id`."""
    caller = load_caller(connection, principal)
    require(caller, customer_id, permission)
    return caller
