"""Signing in with e-mail and password: a new session and its tokens, or one answer for every refusal.

A wrong password, an unknown e-mail, an INVITED or an INACTIVE user get `SignInFailed`, the same
bytes, after the same work: one unit that counts the attempt and looks the user up
(`begin_sign_in`), one password check (`check_credentials`, of a dummy hash when there is no usable
one), one unit that records the failure (`record_failure`). Only a success differs, after the
answer is decided. The Argon2 work runs off the event loop, bounded by the facade's limiter.

Brute force meets the one throttle (authsvc.services.limits): every attempt is counted before the
password is checked, per submitted normalised e-mail (a `Backoff`, whether or not the address
exists, so a 429 says nothing about it) and per client address (a `Window`); a success takes both
back (`complete_sign_in`), so what remains counted are failures. A refused attempt costs no hash.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread
from sqlalchemy import Connection, bindparam, select, update

from authsvc.config import Settings
from authsvc.db.models import (
    UserStatus,
    customers_table,
    subroles_table,
    users_table,
)
from authsvc.db.types import utcnow
from authsvc.errors import SignInThrottled
from authsvc.security.issuer import IssuedTokens
from authsvc.security.passwords import PasswordCheck, check_password, hash_password
from authsvc.services.audit import record_event
from authsvc.services.authorization import USER_SUBROLE
from authsvc.services.limits import address_key, sign_in_per_address, sign_in_per_email
from authsvc.services.sessions import SessionIssuer, start_session
from authsvc.services.throttle import Decision, clear, hit, release

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


@dataclass(frozen=True, slots=True)
class Attempt:
    """A counted sign-in attempt: the credentials to check and the events to take back on success."""

    credentials: Credentials
    per_address: Decision


def begin_sign_in(
    connection: Connection, *, settings: Settings, email: str, client_address: str
) -> Attempt | SignInThrottled:
    """A unit of work: count the attempt (address, then e-mail), then find the credentials.

    A refusal is audited and returned (so the audit commits) before any password work.
    """
    per_address = hit(connection, sign_in_per_address(settings), address_key(client_address))
    per_email = hit(connection, sign_in_per_email(settings), email) if per_address.allowed else None
    if per_email is None or not per_email.allowed:
        release(connection, per_address)
        wait = max(per_address.retry_after, per_email.retry_after if per_email else 0)
        record_event(
            connection,
            actor="anonymous",
            action="session.sign_in",
            outcome="throttled",
            detail={
                "email_domain": email_domain(email),
                "limit": "address" if not per_address.allowed else "email",
            },
        )
        return SignInThrottled(wait)
    return Attempt(find_credentials(connection, email=email), per_address)


async def check_credentials(
    credentials: Credentials, password: str, limiter: anyio.CapacityLimiter
) -> PasswordCheck:
    """The Argon2id check (NFKC, then as typed), off the event loop; the same work for all."""
    return await anyio.to_thread.run_sync(
        check_password, credentials.stored_hash, password, limiter=limiter
    )


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
    settings: Settings,
    issuer: SessionIssuer,
    attempt: Attempt,
    email: str,
    new_hash: str | None,
) -> dict[str, Any]:
    """Take the attempt back from the throttle, start the session (and store a rehash).

    Returns the published sign-in `data`.
    """
    now = utcnow()
    row, old_hash = attempt.credentials.row, attempt.credentials.stored_hash
    release(connection, attempt.per_address)
    clear(connection, sign_in_per_email(settings), email)
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
