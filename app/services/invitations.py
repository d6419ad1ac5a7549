"""Invitations: issue one (with its invite mail), revoke the pending one, and the token's hash.

The one mechanism behind create-user and resend (same template, same outbox, same delivery); the
use cases that call it are `write_users` and `resend_invite`.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, insert, update

from authsvc.config import Settings
from authsvc.db.models import invitations_table
from authsvc.mail.compose import compose_invite
from authsvc.mail.outbox import enqueue
from authsvc.services.limits import count_invitation_mail

_invitations = invitations_table
_REVOKE_PENDING = (
    update(_invitations)
    .where(
        _invitations.c.user_id == bindparam("b_user_id"),  # bare column names are reserved
        _invitations.c.revoked_at.is_(None),
        _invitations.c.accepted_at.is_(None),
    )
    .values(revoked_at=bindparam("b_now"))
)
_INSERT_INVITATION = insert(_invitations)


def hash_invite_token(token: str) -> str:
    """The only form in which an invite token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_invite_token() -> str:
    return secrets.token_urlsafe(32)


def issue_invitation(
    connection: Connection,
    settings: Settings,
    *,
    created_by: str,
    customer_id: uuid.UUID,
    user_id: uuid.UUID,
    email: str,
    first_name: str,
    customer_name: str,
    now: datetime,
    counted: bool = True,
) -> None:
    """Revoke the user's pending invitation, insert a new one and queue its invite mail.

    In the caller's transaction: the invitation and its mail commit together, or neither. The
    one mechanism behind resend and create (same template, same outbox, same delivery). The mail
    counts against the user's and the customer's invitation-mail limits (`InviteMailsLimited`
    past the customer's), unless `counted` is False: for the operator's own bootstrap.
    """
    if counted:
        count_invitation_mail(
            connection, settings, customer_id=customer_id, user_id=user_id, now=now
        )
    connection.execute(_REVOKE_PENDING, {"b_user_id": user_id, "b_now": now})
    token = new_invite_token()
    expires_at = now + timedelta(seconds=settings.invite_ttl_seconds)
    # Inserted after the revoke above; the one-pending index still guards a concurrent insert
    # (IntegrityError is retried by run_in_transaction).
    connection.execute(
        _INSERT_INVITATION,
        {
            "id": uuid.uuid4(),
            "user_id": user_id,
            "customer_id": customer_id,
            "token_hash": hash_invite_token(token),
            "created_by": created_by,
            "created_at": now,
            "expires_at": expires_at,
            "revoked_at": None,
            "accepted_at": None,
        },
    )
    mail = compose_invite(
        settings=settings,
        first_name=first_name,
        customer_name=customer_name,
        token=token,
        expires_at=expires_at,
    )
    enqueue(connection, kind="invite", recipient=email, mail=mail, settings=settings)


def revoke_pending_invitation(connection: Connection, user_id: uuid.UUID, now: datetime) -> int:
    """Revoke the user's pending invitation, if any (its link stops working); how many were."""
    return connection.execute(_REVOKE_PENDING, {"b_user_id": user_id, "b_now": now}).rowcount
