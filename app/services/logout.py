"""Logging out: the caller's session ends, and with it every token it issued.

The bearer (an id_token of a live session) names the session. An optional refresh token in the
body ends its session too when it is the caller's: a client holding tokens of two sessions can end
both. A bearer of an ended session is refused before this runs (401, load_caller).

Without a usable bearer (the id_token has just expired, which is when a client most often wants
to log out), the refresh token alone names the session: whoever holds it could refresh and then
log out, so holding it is authority enough to end that one session. Any generation of a live
session's token counts, since presenting a rotated one at refresh would end the session anyway.
Neither a usable bearer nor a refresh token of a live session: 401, as any dead bearer gets.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Connection, bindparam, select

from authsvc.db.models import refresh_tokens_table, sessions_table, users_table
from authsvc.db.types import utcnow
from authsvc.errors import Unauthorized
from authsvc.security.issuer import hash_refresh_token
from authsvc.security.principal import Principal
from authsvc.services.audit import record_event
from authsvc.services.authorization import load_caller
from authsvc.services.sessions import end_session

_refresh, _sessions = refresh_tokens_table, sessions_table

_SESSION_OF_TOKEN = select(_refresh.c.session_id).where(
    _refresh.c.token_hash == bindparam("token_hash"),
    _refresh.c.user_id == bindparam("user_id"),
)
# The live session a refresh token belongs to (ended, idle-expired or past its absolute lifetime
# all count as dead), with its owner for the audit trail.
_LIVE_SESSION_OF_TOKEN = (
    select(_sessions.c.id, _sessions.c.user_id, users_table.c.customer_id)
    .select_from(
        _refresh.join(_sessions, _sessions.c.id == _refresh.c.session_id).join(
            users_table, users_table.c.id == _sessions.c.user_id
        )
    )
    .where(
        _refresh.c.token_hash == bindparam("token_hash"),
        _refresh.c.revoked_at.is_(None),
        _sessions.c.ended_at.is_(None),
        _sessions.c.expires_at > bindparam("now"),
        _sessions.c.idle_expires_at > bindparam("now"),
    )
)


def logout(
    connection: Connection, *, principal: Principal | None, refresh_token: str | None
) -> int:
    """End the bearer's session (and the refresh token's, if the caller's); how many ended.

    `principal` is None when the request carried no usable bearer: then the refresh token alone
    names the session to end, and `Unauthorized` answers a token of no live session.
    """
    if principal is None:
        return _logout_by_refresh_token(connection, refresh_token)
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
    _audit(connection, caller.user_id, caller.customer_id, ended, by="bearer")
    return ended


def _logout_by_refresh_token(connection: Connection, refresh_token: str | None) -> int:
    if not refresh_token:
        raise Unauthorized()
    now = utcnow()
    found = connection.execute(
        _LIVE_SESSION_OF_TOKEN, {"token_hash": hash_refresh_token(refresh_token), "now": now}
    ).one_or_none()
    if found is None:
        raise Unauthorized()
    ended = int(end_session(connection, found.id, reason="logout", now=now))
    _audit(connection, found.user_id, found.customer_id, ended, by="refresh_token")
    return ended


def _audit(
    connection: Connection, user_id: uuid.UUID, customer_id: uuid.UUID, ended: int, *, by: str
) -> None:
    record_event(
        connection,
        actor=str(user_id),
        action="session.logout",
        outcome="success",
        customer_id=customer_id,
        user_id=user_id,
        detail={"sessions_ended": ended, "by": by},
    )
