"""Reset password: a usable reset link sets the user's password and ends every session.

The facade checks the password rules first (`accept_invitation.checked_new_password`), then the
client address's attempts (accept's limit: each attempt costs a hash), then hashes the password
off the loop whatever the token; this unit finds the link by the SHA-256 of its token with every
condition of a usable one in one statement (not used, not revoked by a newer request, not
expired, user still ACTIVE), so each unusable token gets the same published answer
(`InvalidResetLink`, nothing written). On success: the link is used up, the password set, every
session of the user ended (`end_user_sessions`, which also moves `tokens_valid_after`), and a
"your password was changed" mail queued, all in one transaction. It does not sign the user in.
"""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, select, update

from authsvc.config import Settings
from authsvc.db.models import (
    UserStatus,
    customers_table,
    password_resets_table,
    users_table,
)
from authsvc.db.types import utcnow
from authsvc.errors import InvalidResetLink
from authsvc.mail.compose import PASSWORD_CHANGED, password_changed_params
from authsvc.mail.outbox import enqueue
from authsvc.mail.sealing import OutboxSealer
from authsvc.services.audit import record_event
from authsvc.services.forgot_password import revoke_reset_links
from authsvc.services.sessions import end_user_sessions

_resets, _users, _customers = password_resets_table, users_table, customers_table

_USABLE_LINK = (
    select(
        _resets.c.id,
        _resets.c.user_id,
        _users.c.customer_id,
        _users.c.email,
        _users.c.first_name,
        _customers.c.name.label("customer_name"),
    )
    .select_from(
        _resets.join(_users, _users.c.id == _resets.c.user_id).join(
            _customers, _customers.c.id == _users.c.customer_id
        )
    )
    .where(
        _resets.c.token_hash == bindparam("token_hash"),
        _resets.c.used_at.is_(None),
        _resets.c.revoked_at.is_(None),
        _resets.c.expires_at > bindparam("now"),
        _users.c.status == UserStatus.ACTIVE,
    )
    # PostgreSQL: two resets with one token queue here; the second then finds it used.
    .with_for_update(of=_resets)
)
_USE_LINK = (
    update(_resets)
    .where(_resets.c.id == bindparam("b_id"), _resets.c.used_at.is_(None))
    .values(used_at=bindparam("b_now"))
)
_SET_PASSWORD = (
    update(_users)
    .where(_users.c.id == bindparam("b_user_id"))
    .values(
        password_hash=bindparam("b_password_hash"),
        # The link came by mail to this address: whoever resets through it holds the mailbox.
        is_email_verified=True,
        updated_at=bindparam("b_now"),
        updated_by=bindparam("b_user_id"),
    )
)


def reset_password(
    connection: Connection,
    *,
    settings: Settings,
    sealer: OutboxSealer,
    token_hash: str,
    password_hash: str,
) -> None:
    """Use up the link, set the password, end every session, queue the notice; or raise."""
    now = utcnow()
    found = connection.execute(_USABLE_LINK, {"token_hash": token_hash, "now": now}).one_or_none()
    if found is None:
        raise InvalidResetLink()
    if connection.execute(_USE_LINK, {"b_id": found.id, "b_now": now}).rowcount != 1:
        raise InvalidResetLink()  # used meanwhile (cannot happen under the row lock)
    connection.execute(
        _SET_PASSWORD,
        {"b_user_id": found.user_id, "b_password_hash": password_hash, "b_now": now},
    )
    revoke_reset_links(connection, found.user_id)  # any other link of the user dies too
    ended = end_user_sessions(connection, found.user_id, reason="password_reset", now=now)
    enqueue(
        connection,
        template=PASSWORD_CHANGED,
        params=password_changed_params(
            first_name=found.first_name, customer_name=found.customer_name, changed_at=now
        ),
        token="",  # a notice without a link: nothing secret to seal
        recipient=found.email,
        settings=settings,
        sealer=sealer,
    )
    record_event(
        connection,
        actor=str(found.user_id),
        action="password.reset",
        outcome="success",
        customer_id=found.customer_id,
        user_id=found.user_id,
        detail={
            "changes": {"password": {"before": "set", "after": "reset"}},
            "sessions_ended": ended,
            "reset_id": str(found.id),
        },
    )
