"""Forgot password: a reset mail for an ACTIVE user, and the same answer for everyone.

The use case never tells the caller what happened: the facade answers the published 200 whether
the address is unknown, belongs to an INVITED or INACTIVE user, or was throttled. For an ACTIVE
user of an active customer it revokes the user's earlier reset links, inserts a new one (the
SHA-256 of a 43-character token; the token itself only in the mail) and queues the reset mail in
the same transaction, its token sealed as the invite's is (authsvc.mail.sealing): no usable link
in the database or a backup of it. Requests are counted on the
one throttle, per client address and per submitted e-mail, before the lookup; past either, no
mail. Audited with the address's domain only.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta

from sqlalchemy import Connection, bindparam, insert, select, update

from authsvc.config import Settings
from authsvc.db.models import (
    UserStatus,
    customers_table,
    password_resets_table,
    users_table,
)
from authsvc.db.types import utcnow
from authsvc.mail.compose import RESET, reset_params
from authsvc.mail.outbox import enqueue
from authsvc.mail.sealing import OutboxSealer
from authsvc.services.audit import record_event
from authsvc.services.limits import address_key, forgot_per_address, forgot_per_email
from authsvc.services.sign_in import email_domain
from authsvc.services.throttle import hit

_resets, _users, _customers = password_resets_table, users_table, customers_table

_RESETTABLE = (
    select(
        _users.c.id,
        _users.c.customer_id,
        _users.c.email,
        _users.c.first_name,
        _customers.c.name.label("customer_name"),
    )
    .select_from(_users.join(_customers, _customers.c.id == _users.c.customer_id))
    .where(
        _users.c.email_normalized == bindparam("email"),
        _users.c.status == UserStatus.ACTIVE,
        _customers.c.is_active.is_(True),
    )
)
_REVOKE_UNUSED = (
    update(_resets)
    .where(
        _resets.c.user_id == bindparam("b_user_id"),
        _resets.c.used_at.is_(None),
        _resets.c.revoked_at.is_(None),
    )
    .values(revoked_at=bindparam("b_now"))
)
_INSERT_RESET = insert(_resets)


def hash_reset_token(token: str) -> str:
    """The only form in which a reset token is stored."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_reset_token() -> str:
    """43 URL-safe characters (256 bits), as an invite token."""
    return secrets.token_urlsafe(32)


def revoke_reset_links(connection: Connection, user_id: uuid.UUID) -> int:
    """Revoke the user's unused reset links; how many were."""
    values = {"b_user_id": user_id, "b_now": utcnow()}
    return int(connection.execute(_REVOKE_UNUSED, values).rowcount)


def forgot_password(
    connection: Connection,
    *,
    settings: Settings,
    sealer: OutboxSealer,
    email: str,
    client_address: str,
) -> None:
    """A unit of work: count the request, then for an ACTIVE user a new reset link and its mail.

    `email` is normalised. Returns nothing, whatever happened: the answer is always the same.
    """
    now = utcnow()
    audit = {"email_domain": email_domain(email)}
    per_address = hit(connection, forgot_per_address(settings), address_key(client_address))
    if not per_address.allowed or not hit(connection, forgot_per_email(settings), email).allowed:
        record_event(
            connection,
            actor="anonymous",
            action="password.reset_requested",
            outcome="throttled",
            detail=audit,
        )
        return
    user = connection.execute(_RESETTABLE, {"email": email}).one_or_none()
    if user is None:
        record_event(
            connection,
            actor="anonymous",
            action="password.reset_requested",
            outcome="no_mail",
            detail=audit,
        )
        return
    revoked = revoke_reset_links(connection, user.id)
    token = new_reset_token()
    expires_at = now + timedelta(seconds=settings.reset_token_ttl_seconds)
    connection.execute(
        _INSERT_RESET,
        {
            "id": uuid.uuid4(),
            "user_id": user.id,
            "token_hash": hash_reset_token(token),
            "created_at": now,
            "expires_at": expires_at,
            "used_at": None,
            "revoked_at": None,
        },
    )
    # The token goes into the outbox sealed; the mail is rendered at delivery (authsvc.mail).
    enqueue(
        connection,
        template=RESET,
        params=reset_params(
            first_name=user.first_name, customer_name=user.customer_name, expires_at=expires_at
        ),
        token=token,
        recipient=user.email,
        settings=settings,
        sealer=sealer,
    )
    record_event(
        connection,
        actor="anonymous",
        action="password.reset_requested",
        outcome="success",
        customer_id=user.customer_id,
        user_id=user.id,
        detail={**audit, "earlier_links_revoked": revoked},
    )
