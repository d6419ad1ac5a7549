"""Signing in with e-mail and password: a new session and its tokens, or one answer for every refusal.

A wrong password, an unknown e-mail, an INVITED or an INACTIVE user get `SignInFailed`, the same
bytes, after the same work: one lookup (`find_credentials`), one Argon2id verification (of a dummy
hash when there is no usable one), one write (`record_failure`). Only a success differs, after the
answer is decided. The Argon2 work runs off the event loop in the facade (container.py).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from authsvc.db.models import (
    UserStatus,
    customers_table,
    subroles_table,
    users_table,
)
from authsvc.db.types import utcnow
from authsvc.security.issuer import IssuedTokens
from authsvc.security.passwords import hash_password
from authsvc.services.audit import record_event
from authsvc.services.authorization import USER_SUBROLE
from authsvc.services.sessions import SessionIssuer, start_session

_users, _subroles, _customers = users_table, subroles_table, customers_table

# The labels of the permissions in the sign-in answer (the published `{id, code, label}`).
PERMISSION_LABELS = {
    "users:read": "Customer users Read",
    "users:write": "Customer users Write",
    "users:resend-invite": "Customer users Resend invite",
}

_CREDENTIALS = (
    select(
        _users.c.id,
        _users.c.customer_id,
        _users.c.status,
        _users.c.password_hash,
        _users.c.first_name,
        _users.c.last_name,
        _users.c.email,
        _users.c.is_email_verified,
        _customers.c.name.label("customer_name"),
        _customers.c.is_active.label("customer_active"),
        _subroles.c.id.label("subrole_id"),
        _subroles.c.code.label("subrole_code"),
        _subroles.c.label.label("subrole_label"),
        _subroles.c.permissions,
    )
    .select_from(
        _users.join(_customers, _customers.c.id == _users.c.customer_id).outerjoin(
            _subroles, USER_SUBROLE
        )
    )
    .where(_users.c.email_normalized == bindparam("email"))
)
_REHASH = (
    update(_users)
    .where(_users.c.id == bindparam("b_user_id"), _users.c.password_hash == bindparam("b_old"))
    .values(password_hash=bindparam("b_new"))
)


@functools.cache
def dummy_hash() -> str:
    """An Argon2id hash of nothing anyone can type: verified when there is no usable hash."""
    return hash_password("\x00 no user has this password \x00")


@dataclass(frozen=True, slots=True)
class Credentials:
    """What verification needs, the same shape whether or not the e-mail exists."""

    stored_hash: str
    row: Any  # None unless the user may sign in (ACTIVE, active customer, a password)


def find_credentials(connection: Connection, *, email: str) -> Credentials:
    """The user of a normalised e-mail, or the dummy hash (one query either way)."""
    row = connection.execute(_CREDENTIALS, {"email": email}).one_or_none()
    usable = (
        row is not None
        and row.status == UserStatus.ACTIVE
        and row.customer_active
        and row.password_hash is not None
    )
    if not usable:
        return Credentials(stored_hash=dummy_hash(), row=None)
    assert row is not None
    return Credentials(stored_hash=row.password_hash, row=row)


def record_failure(connection: Connection, *, email_hint: str) -> None:
    """Audit a refused sign-in (the same write for every cause; no address, no password)."""
    record_event(
        connection,
        actor="anonymous",
        action="session.sign_in",
        outcome="refused",
        detail={"email_domain": email_hint},
    )


def complete_sign_in(
    connection: Connection,
    *,
    issuer: SessionIssuer,
    row: Any,
    new_hash: str | None,
    old_hash: str,
) -> dict[str, Any]:
    """Start the session (and store a rehash); the published sign-in `data`."""
    now = utcnow()
    if new_hash is not None:
        connection.execute(_REHASH, {"b_user_id": row.id, "b_old": old_hash, "b_new": new_hash})
    permissions = [p for p in row.permissions or [] if isinstance(p, str)]
    tokens = start_session(
        connection,
        issuer,
        user_id=row.id,
        customer_id=row.customer_id,
        permissions=permissions,
        now=now,
    )
    record_event(
        connection,
        actor=str(row.id),
        action="session.sign_in",
        outcome="success",
        customer_id=row.customer_id,
        user_id=row.id,
        detail={"rehashed": new_hash is not None},
    )
    return published_sign_in(row, tokens, permissions)


def published_sign_in(row: Any, tokens: IssuedTokens, permissions: list[str]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "user_details": {
            "id": str(row.id),
            "first_name": row.first_name,
            "last_name": row.last_name,
            "email": row.email,
            "is_email_verified": bool(row.is_email_verified),
        },
        "access_token": tokens.access_token,
        "id_token": tokens.id_token,
        "refresh_token": tokens.refresh_token,
        "permissions": [
            {"code": code, "label": PERMISSION_LABELS.get(code, code)}
            for code in sorted(permissions)
        ],
        "customer_details": {"id": str(row.customer_id), "name": row.customer_name},
    }
    if row.subrole_id is not None:
        data["subrole"] = {
            "id": str(row.subrole_id),
            "code": row.subrole_code,
            "label": row.subrole_label,
        }
    return data


def email_domain(email: str) -> str:
    """What the audit keeps of a submitted address: its domain only."""
    return email.rpartition("@")[2][:100]
