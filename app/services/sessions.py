"""Sessions: what a sign-in starts and every token it issues names (`sid`).

A session starts on accept, sign-in (and, through sign-in, after a reset) and in `authsvc demo` /
`authsvc token`. It ends on logout, refresh-token reuse, password reset, deactivation, or when its
idle or absolute lifetime runs out; `authsvc.services.authorization.load_caller` checks it on
every request, so an ended session's tokens stop working on the next request, on every instance.
Refresh tokens are stored only as SHA-256 hashes, one row per generation (see refresh_session).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, insert, update

from authsvc.db.models import refresh_tokens_table, sessions_table, users_table
from authsvc.security.issuer import IssuedTokens, TokenIssuer, hash_refresh_token

_sessions, _refresh = sessions_table, refresh_tokens_table


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """Lifetimes from the settings (AUTHSVC_SESSION_*, AUTHSVC_REFRESH_GRACE_SECONDS)."""

    idle_seconds: int = 7 * 24 * 3600
    absolute_seconds: int = 30 * 24 * 3600
    grace_seconds: int = 10

    def idle_expiry(self, now: datetime, absolute: datetime) -> datetime:
        return min(now + timedelta(seconds=self.idle_seconds), absolute)


@dataclass(frozen=True, slots=True)
class SessionIssuer:
    """The token issuer with the session lifetimes: what every use case that signs in needs."""

    tokens: TokenIssuer
    policy: SessionPolicy


_INSERT_SESSION = insert(_sessions)
_INSERT_REFRESH = insert(_refresh)
_END_SESSION = (
    update(_sessions)
    .where(_sessions.c.id == bindparam("b_session_id"), _sessions.c.ended_at.is_(None))
    .values(ended_at=bindparam("b_now"), end_reason=bindparam("b_reason"))
)
_REVOKE_SESSION_TOKENS = (
    update(_refresh)
    .where(_refresh.c.session_id == bindparam("b_session_id"), _refresh.c.revoked_at.is_(None))
    .values(revoked_at=bindparam("b_now"))
)
_END_USER_SESSIONS = (
    update(_sessions)
    .where(_sessions.c.user_id == bindparam("b_user_id"), _sessions.c.ended_at.is_(None))
    .values(ended_at=bindparam("b_now"), end_reason=bindparam("b_reason"))
)
_REVOKE_USER_TOKENS = (
    update(_refresh)
    .where(_refresh.c.user_id == bindparam("b_user_id"), _refresh.c.revoked_at.is_(None))
    .values(revoked_at=bindparam("b_now"))
)
_CUT_USER_TOKENS = (
    update(users_table)
    .where(users_table.c.id == bindparam("b_user_id"))
    .values(tokens_valid_after=bindparam("b_now"))
)


def start_session(
    connection: Connection,
    issuer: SessionIssuer,
    *,
    user_id: uuid.UUID,
    customer_id: uuid.UUID,
    permissions: Iterable[str],
    now: datetime,
) -> IssuedTokens:
    """A new session and its first tokens, in the caller's transaction."""
    session_id = uuid.uuid4()
    absolute = now + timedelta(seconds=issuer.policy.absolute_seconds)
    connection.execute(
        _INSERT_SESSION,
        {
            "id": session_id,
            "user_id": user_id,
            "created_at": now,
            "last_used_at": now,
            "expires_at": absolute,
            "idle_expires_at": issuer.policy.idle_expiry(now, absolute),
            "ended_at": None,
            "end_reason": None,
        },
    )
    tokens = issuer.tokens.issue(
        user_id=user_id, customer_id=customer_id, permissions=permissions, session_id=session_id
    )
    store_refresh_token(
        connection,
        token=tokens.refresh_token,
        user_id=user_id,
        session_id=session_id,
        parent_id=None,
        now=now,
        expires_at=absolute,
    )
    return tokens


def store_refresh_token(
    connection: Connection,
    *,
    token: str,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    parent_id: uuid.UUID | None,
    now: datetime,
    expires_at: datetime,
) -> None:
    """One generation of a session's refresh token: its hash only."""
    connection.execute(
        _INSERT_REFRESH,
        {
            "id": uuid.uuid4(),
            "user_id": user_id,
            "session_id": session_id,
            "parent_id": parent_id,
            "token_hash": hash_refresh_token(token),
            "created_at": now,
            "expires_at": expires_at,
            "rotated_at": None,
            "revoked_at": None,
        },
    )


def end_session(
    connection: Connection, session_id: uuid.UUID, *, reason: str, now: datetime
) -> bool:
    """End one session and revoke its refresh tokens; False if it had already ended."""
    values = {"b_session_id": session_id, "b_now": now, "b_reason": reason}
    ended = connection.execute(_END_SESSION, values).rowcount == 1
    connection.execute(_REVOKE_SESSION_TOKENS, values)
    return ended


def end_user_sessions(
    connection: Connection, user_id: uuid.UUID, *, reason: str, now: datetime
) -> int:
    """End every session of a user, revoke every refresh token, and cut other issuers' tokens.

    For deactivation and password reset: the user's `tokens_valid_after` moves to now, so a
    token without a session (another issuer's) issued before it is refused too, and reactivating
    the user later revives none of them.
    """
    values = {"b_user_id": user_id, "b_now": now, "b_reason": reason}
    ended = connection.execute(_END_USER_SESSIONS, values).rowcount
    connection.execute(_REVOKE_USER_TOKENS, values)
    connection.execute(_CUT_USER_TOKENS, values)
    return int(ended)
