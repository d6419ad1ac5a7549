"""Enqueue mail in the caller's transaction: a change and its e-mail commit together, or neither."""

from __future__ import annotations

import uuid
from email.utils import parseaddr

from sqlalchemy.orm import Session

from app.config import Settings
from app.db.models import OutboxMessage, OutboxStatus
from app.db.types import utcnow
from app.mail.compose import ComposedMail, one_line

FALLBACK_DOMAIN = "authsvc.localhost"


def message_id_domain(mail_from: str) -> str:
    """The right-hand side of our Message-IDs: the sender's domain, so they are globally unique."""
    _name, address = parseaddr(mail_from)
    _local, at, domain = address.rpartition("@")
    domain = domain.strip().lower() if at else ""
    return domain if domain and all(c.isalnum() or c in ".-" for c in domain) else FALLBACK_DOMAIN


def new_message_id(mail_from: str) -> str:
    """A fresh `<uuid4@domain>`; fixed at enqueue time so every retry carries the same one."""
    return f"<{uuid.uuid4()}@{message_id_domain(mail_from)}>"


def enqueue(
    session: Session,
    *,
    kind: str,
    recipient: str,
    mail: ComposedMail,
    settings: Settings,
) -> OutboxMessage:
    """Add one PENDING message to `session`; the caller owns the transaction and commits it."""
    if recipient != one_line(recipient) or "@" not in recipient:
        # Refuse here, in the request, rather than let the worker retry a hopeless address.
        raise ValueError("recipient must be a single e-mail address")
    now = utcnow()
    message = OutboxMessage(
        message_id=new_message_id(settings.mail_from),
        kind=kind,
        recipient=recipient,
        subject=one_line(mail.subject),
        body_text=mail.text,
        body_html=mail.html,
        status=OutboxStatus.PENDING,
        attempts=0,
        created_at=now,
        next_attempt_at=now,
    )
    session.add(message)
    return message
