"""Logging out: the caller's session ends, and with it every token it issued.

The bearer (an id_token of a live session) names the session. An optional refresh token in the
body ends its session too when it is the caller's: a client holding tokens of two sessions can end
both. A bearer of an ended session is refused before this runs (401, load_caller).
"""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, select

from authsvc.db.models import refresh_tokens_table
from authsvc.db.types import utcnow
from authsvc.security.issuer import hash_refresh_token
from authsvc.security.principal import Principal
from authsvc.services.audit import record_event
from authsvc.services.authorization import load_caller
from authsvc.services.sessions import end_session

_SESSION_OF_TOKEN = select(refresh_tokens_table.c.session_id).where(
    refresh_tokens_table.c.token_hash == bindparam("token_hash"),
    refresh_tokens_table.c.user_id == bindparam("user_id"),
)


def logout(connection: Connection, *, principal: Principal, refresh_token: str | None) -> int:
    """End the bearer's session (and the refresh token's, if the caller's); how many ended."""
    caller = load_caller(connection, principal)
    now = utcnow()
    sessions = {principal.session_id} - {None}
    if refresh_token:
        other = connection.execute(
            _SESSION_OF_TOKEN,
            {"token_hash": hash_refresh_token(refresh_token), "user_id": caller.user_id},
        ).scalar_one_or_none()
        if other is not None:
            sessions.add(other)
    ended = sum(
        end_session(connection, session_id, reason="logout", now=now)
        for session_id in sessions
        if session_id is not None
    )
    record_event(
        connection,
        actor=principal.subject,
        action="session.logout",
        outcome="success",
        customer_id=caller.customer_id,
        user_id=caller.user_id,
        detail={"sessions_ended": ended},
    )
    return ended
