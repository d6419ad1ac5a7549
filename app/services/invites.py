"""Resending an invitation: the rules of who may, when, and what happens in one transaction."""

from __future__ import annotations

import hashlib
import math
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db.models import Customer, Invitation, User, UserStatus
from app.db.types import utcnow
from app.errors import (
    AuthServiceError,
    Forbidden,
    NotFound,
    RateLimited,
    Unauthorized,
    UserAlreadyOnboarded,
)
from app.mail.compose import compose_invite
from app.mail.outbox import enqueue
from app.security.policy import may_resend_invite
from app.security.principal import Principal
from app.services.audit import record_event, record_event_now
from app.services.transactions import run_in_transaction

ACTION = "invite.resend"

# Built once: constructing and cache-keying these expressions on every request cost more than
# executing them (SQLAlchemy memoizes the cache key on the statement object, not on its shape).
_CALLER_STATUS = select(User.status).where(User.id == bindparam("caller_id"))
_USER_OF_CUSTOMER_FOR_UPDATE = (
    select(User)
    .where(User.id == bindparam("user_id"), User.customer_id == bindparam("customer_id"))
    .with_for_update()
)
_RECENT_INVITES = select(func.count(Invitation.id), func.min(Invitation.created_at)).where(
    Invitation.user_id == bindparam("user_id"), Invitation.created_at > bindparam("since")
)
_REVOKE_PENDING = (
    update(Invitation)
    .where(
        Invitation.user_id == bindparam("b_user_id"),  # bare column names are reserved in UPDATE
        Invitation.revoked_at.is_(None),
        Invitation.accepted_at.is_(None),
    )
    .values(revoked_at=bindparam("b_now"))
)
_INSERT_INVITATION = insert(Invitation).values(
    user_id=bindparam("b_user_id"),
    customer_id=bindparam("b_customer_id"),
    token_hash=bindparam("b_token_hash"),
    created_by=bindparam("b_created_by"),
    created_at=bindparam("b_created_at"),
    expires_at=bindparam("b_expires_at"),
)


def hash_invite_token(token: str) -> str:
    """The only form in which an invite token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_invite_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class InviteService:
    sessions: sessionmaker[Session]  # write sessions (SQLite: BEGIN IMMEDIATE)
    settings: Settings

    def resend_invite(
        self,
        *,
        principal: Principal,
        customer_id: uuid.UUID,
        user_id: uuid.UUID,
        deadline: float | None = None,
    ) -> None:
        """Revoke pending invites, issue a new one and queue its mail, atomically; or raise why not.

        Nothing commits after `deadline` (monotonic), when the client has already had its 500.
        """
        try:
            run_in_transaction(
                self.sessions,
                lambda s: self._resend(s, principal, customer_id, user_id),
                deadline=deadline,
            )
        except AuthServiceError as refused:
            record_event_now(
                self.sessions,
                actor=principal.subject,
                action=ACTION,
                outcome=type(refused).__name__,
                customer_id=customer_id,
                user_id=user_id,
            )
            raise

    def _resend(
        self, session: Session, principal: Principal, customer_id: uuid.UUID, user_id: uuid.UUID
    ) -> None:
        caller_id = _as_uuid(principal.subject)
        caller_status = (
            session.scalar(_CALLER_STATUS, {"caller_id": caller_id}) if caller_id else None
        )
        if caller_status is not UserStatus.ACTIVE:
            raise Unauthorized()
        if not may_resend_invite(principal, customer_id):
            raise Forbidden()
        customer = session.get(Customer, customer_id)
        if customer is None:
            raise NotFound("Customer not found")
        # The row lock serialises concurrent resends for one user on PostgreSQL; on SQLite the
        # write session already holds the database lock (BEGIN IMMEDIATE).
        user = session.scalars(
            _USER_OF_CUSTOMER_FOR_UPDATE, {"user_id": user_id, "customer_id": customer_id}
        ).one_or_none()
        if user is None:
            raise NotFound("User not found for this customer")
        if user.status is not UserStatus.INVITED:
            raise UserAlreadyOnboarded()
        now = utcnow()
        self._check_rate(session, user.id, now)
        session.execute(_REVOKE_PENDING, {"b_user_id": user.id, "b_now": now})
        token = new_invite_token()
        expires_at = now + timedelta(seconds=self.settings.invite_ttl_seconds)
        # A prebuilt Core INSERT, after the revoke above: the invitation is never read back here, so
        # it needs no ORM identity, and the unit of work's bookkeeping for it was a tenth of the
        # request. (The one-pending index still guards it; IntegrityError is retried as before.)
        session.execute(
            _INSERT_INVITATION,
            {
                "b_user_id": user.id,
                "b_customer_id": customer.id,
                "b_token_hash": hash_invite_token(token),
                "b_created_by": principal.subject,
                "b_created_at": now,
                "b_expires_at": expires_at,
            },
        )
        mail = compose_invite(
            settings=self.settings, user=user, customer=customer, token=token, expires_at=expires_at
        )
        enqueue(session, kind="invite", recipient=user.email, mail=mail, settings=self.settings)
        record_event(
            session,
            actor=principal.subject,
            action=ACTION,
            outcome="success",
            customer_id=customer.id,
            user_id=user.id,
        )

    def _check_rate(self, session: Session, user_id: uuid.UUID, now: datetime) -> None:
        window = timedelta(seconds=self.settings.resend_window_seconds)
        count, oldest = session.execute(
            _RECENT_INVITES, {"user_id": user_id, "since": now - window}
        ).one()
        if count >= self.settings.resend_limit:
            oldest_at = oldest if isinstance(oldest, datetime) else now
            if oldest_at.tzinfo is None:  # SQLite's func.min() bypasses the column type
                oldest_at = oldest_at.replace(tzinfo=now.tzinfo)
            wait = (oldest_at + window - now).total_seconds()
            raise RateLimited(retry_after_seconds=max(1, math.ceil(wait)))


def _as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
