"""Refreshing a session: rotation with reuse detection and a grace window (RFC 9700 4.14).

- Each use returns a new refresh token (the successor) and the used one dies (`rotated_at`).
- Presenting a rotated token again is reuse: the whole session (every generation) ends, audited.
- Except within the grace window (AUTHSVC_REFRESH_GRACE_SECONDS) after the rotation, for the
  immediate parent only, while its successor is unused: then the answer carries the same
  successor, so two tabs refreshing at once end up with one token, not two branches (auth0-react
  #929, Keycloak #14122). An older generation is reuse even within the window
  (django-oauth-toolkit #1617).

The successor is derived from its parent (`TokenIssuer.successor_of`, an HMAC under a key outside
the database), so the grace answer needs no stored token: the database holds hashes only.
Every unusable token (unknown, expired, rotated, reused, revoked, of an ended session or of a user
who may not sign in) gets one answer, `InvalidRefreshToken`. Refusals that end a session are
returned, not raised, so that the ending commits; the facade raises them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, select, update

from authsvc.db.models import (
    UserStatus,
    customers_table,
    refresh_tokens_table,
    sessions_table,
    subroles_table,
    users_table,
)
from authsvc.db.types import utcnow
from authsvc.errors import InvalidRefreshToken
from authsvc.security.issuer import IssuedTokens, hash_refresh_token
from authsvc.services.audit import record_event
from authsvc.services.authorization import USER_SUBROLE
from authsvc.services.sessions import SessionIssuer, end_session, store_refresh_token

_refresh, _sessions, _users = refresh_tokens_table, sessions_table, users_table
_subroles, _customers = subroles_table, customers_table

_TOKEN = (
    select(
        _refresh.c.id,
        _refresh.c.expires_at,
        _refresh.c.rotated_at,
        _refresh.c.revoked_at,
        _sessions.c.id.label("session_id"),
        _sessions.c.expires_at.label("session_expires_at"),
        _sessions.c.idle_expires_at,
        _sessions.c.ended_at,
        _users.c.id.label("user_id"),
        _users.c.customer_id,
        _users.c.status,
        _customers.c.is_active.label("customer_active"),
        _subroles.c.permissions,
    )
    .select_from(
        _refresh.join(_sessions, _sessions.c.id == _refresh.c.session_id)
        .join(_users, _users.c.id == _refresh.c.user_id)
        .join(_customers, _customers.c.id == _users.c.customer_id)
        .outerjoin(_subroles, USER_SUBROLE)
    )
    .where(_refresh.c.token_hash == bindparam("token_hash"))
    # PostgreSQL: two refreshes of one token queue here; the second sees the first's rotation.
    .with_for_update(of=_refresh)
)
_SUCCESSOR = select(_refresh.c.rotated_at, _refresh.c.revoked_at).where(
    and_(
        _refresh.c.token_hash == bindparam("token_hash"),
        _refresh.c.parent_id == bindparam("parent"),
    )
)
_ROTATE = (
    update(_refresh)
    .where(_refresh.c.id == bindparam("b_id"), _refresh.c.rotated_at.is_(None))
    .values(rotated_at=bindparam("b_now"))
)
_TOUCH_SESSION = (
    update(_sessions)
    .where(_sessions.c.id == bindparam("b_session_id"))
    .values(last_used_at=bindparam("b_now"), idle_expires_at=bindparam("b_idle"))
)


def refresh_session(
    connection: Connection, *, issuer: SessionIssuer, refresh_token: str
) -> IssuedTokens | InvalidRefreshToken:
    """New tokens of the token's session, or `InvalidRefreshToken` (returned when it writes)."""
    now = utcnow()
    found = connection.execute(
        _TOKEN, {"token_hash": hash_refresh_token(refresh_token)}
    ).one_or_none()
    if found is None or found.revoked_at is not None or found.ended_at is not None:
        raise InvalidRefreshToken()
    if found.status != UserStatus.ACTIVE or not found.customer_active:
        raise InvalidRefreshToken()
    expired = min(found.session_expires_at, found.idle_expires_at, found.expires_at) <= now
    if expired:
        reason = "absolute" if found.session_expires_at <= now else "idle"
        end_session(connection, found.session_id, reason=reason, now=now)
        return InvalidRefreshToken()
    successor = issuer.tokens.successor_of(refresh_token)
    permissions = [p for p in found.permissions or [] if isinstance(p, str)]
    if found.rotated_at is not None:
        if not _within_grace(connection, issuer, found, successor, now):
            end_session(connection, found.session_id, reason="refresh_reuse", now=now)
            record_event(
                connection,
                actor=str(found.user_id),
                action="session.refresh_reuse",
                outcome="refused",
                customer_id=found.customer_id,
                user_id=found.user_id,
                detail={"session_id": str(found.session_id)},
            )
            return InvalidRefreshToken()
        grace = True
    else:
        grace = False
        connection.execute(_ROTATE, {"b_id": found.id, "b_now": now})
        store_refresh_token(
            connection,
            token=successor,
            user_id=found.user_id,
            session_id=found.session_id,
            parent_id=found.id,
            now=now,
            expires_at=found.session_expires_at,
        )
    connection.execute(
        _TOUCH_SESSION,
        {
            "b_session_id": found.session_id,
            "b_now": now,
            "b_idle": issuer.policy.idle_expiry(now, found.session_expires_at),
        },
    )
    record_event(
        connection,
        actor=str(found.user_id),
        action="session.refresh",
        outcome="success",
        customer_id=found.customer_id,
        user_id=found.user_id,
        detail={"session_id": str(found.session_id), "grace": grace},
    )
    return issuer.tokens.issue(
        user_id=found.user_id,
        customer_id=found.customer_id,
        permissions=permissions,
        session_id=found.session_id,
        refresh_token=successor,
    )


def _within_grace(
    connection: Connection, issuer: SessionIssuer, found: Any, successor: str, now: datetime
) -> bool:
    """A second refresh of the immediate parent, soon enough, while its successor is unused."""
    grace = issuer.policy.grace_seconds
    if grace <= 0 or found.rotated_at + timedelta(seconds=grace) < now:
        return False
    child = connection.execute(
        _SUCCESSOR, {"token_hash": hash_refresh_token(successor), "parent": found.id}
    ).one_or_none()
    return child is not None and child.rotated_at is None and child.revoked_at is None
