"""Accept an invitation: the invited user sets a password, becomes ACTIVE and gets tokens.

The unit of work is found by the SHA-256 of the token, with every condition of a usable invitation
in one statement (not revoked by a resend or a deactivation, not accepted, not expired, user still
INVITED). An unknown, superseded, expired or used token therefore takes the same path and gets the
same answer (`InvalidInvitation`); the Argon2id hash of the password is computed before the lookup
whatever the token (`hash_new_password`), so neither the answer nor its timing says which case it was.
"""

from __future__ import annotations

import anyio
import anyio.to_thread
from sqlalchemy import Connection, bindparam, select, update

from authsvc.db.models import UserStatus, invitations_table, subroles_table, users_table
from authsvc.db.types import utcnow
from authsvc.errors import InvalidInvitation, PasswordRejected
from authsvc.security.issuer import IssuedTokens
from authsvc.security.passwords import hash_password, password_problems, rejection_message
from authsvc.services.audit import record_event
from authsvc.services.authorization import USER_SUBROLE
from authsvc.services.sessions import SessionIssuer, start_session

_invitations, _users, _subroles = invitations_table, users_table, subroles_table

_USABLE_INVITATION = (
    select(
        _invitations.c.id,
        _invitations.c.user_id,
        _users.c.customer_id,
        _subroles.c.permissions,
    )
    .select_from(
        _invitations.join(_users, _users.c.id == _invitations.c.user_id).outerjoin(
            _subroles, USER_SUBROLE
        )
    )
    .where(
        _invitations.c.token_hash == bindparam("token_hash"),
        _invitations.c.revoked_at.is_(None),
        _invitations.c.accepted_at.is_(None),
        _invitations.c.expires_at > bindparam("now"),
        _users.c.status == UserStatus.INVITED,
    )
    # PostgreSQL: two accepts of one token queue here; the second then finds it used.
    .with_for_update(of=_invitations)
)
_MARK_ACCEPTED = (
    update(_invitations)
    .where(_invitations.c.id == bindparam("b_id"), _invitations.c.accepted_at.is_(None))
    .values(accepted_at=bindparam("b_now"))
)
_ACTIVATE = (
    update(_users)
    .where(_users.c.id == bindparam("b_user_id"), _users.c.status == UserStatus.INVITED)
    .values(
        status=UserStatus.ACTIVE,
        is_email_verified=True,
        is_first_login=False,
        password_hash=bindparam("b_password_hash"),
        updated_at=bindparam("b_now"),
        updated_by=bindparam("b_user_id"),
    )
)


def checked_new_password(password: str | None) -> str:
    """The password, if it passes the rules; else `PasswordRejected` (no hash spent on it)."""
    problems = password_problems(password or "")
    if problems:
        raise PasswordRejected(rejection_message(problems))
    assert password is not None  # an absent password breaks every rule
    return password


async def hash_new_password(password: str | None, limiter: anyio.CapacityLimiter) -> str:
    """The password rules (`PasswordRejected`), then its Argon2id hash off the event loop.

    Runs before the invitation is looked up, whatever the token: an unknown token costs what a
    valid one does. `limiter` bounds the hashes at once (each takes memory and a core).
    """
    checked = checked_new_password(password)
    return await anyio.to_thread.run_sync(hash_password, checked, limiter=limiter)


def accept_invitation(
    connection: Connection, *, issuer: SessionIssuer, token_hash: str, password_hash: str
) -> IssuedTokens:
    """Use up the invitation, activate its user with the password, and start their first session.

    A unit of work; `InvalidInvitation` (nothing written) unless the invitation is usable.
    """
    now = utcnow()
    found = connection.execute(
        _USABLE_INVITATION, {"token_hash": token_hash, "now": now}
    ).one_or_none()
    if found is None:
        raise InvalidInvitation()
    if connection.execute(_MARK_ACCEPTED, {"b_id": found.id, "b_now": now}).rowcount != 1:
        raise InvalidInvitation()  # accepted meanwhile (cannot happen under the row lock)
    activated = connection.execute(
        _ACTIVATE,
        {"b_user_id": found.user_id, "b_password_hash": password_hash, "b_now": now},
    ).rowcount
    if activated != 1:
        raise InvalidInvitation()  # the transaction rolls back: the invitation stays usable
    permissions = found.permissions if isinstance(found.permissions, list) else []
    tokens = start_session(
        connection,
        issuer,
        user_id=found.user_id,
        customer_id=found.customer_id,
        permissions=permissions,
        now=now,
    )
    record_event(
        connection,
        actor=str(found.user_id),
        action="invitation.accept",
        outcome="success",
        customer_id=found.customer_id,
        user_id=found.user_id,
        detail={
            "changes": {
                "status": {"before": str(UserStatus.INVITED), "after": str(UserStatus.ACTIVE)},
                "is_email_verified": {"before": False, "after": True},
                # That a password was set, never what it (or its hash) is.
                "password": {"before": "unset", "after": "set"},
            },
            "invitation_id": str(found.id),
        },
    )
    return tokens
