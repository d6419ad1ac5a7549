"""Enqueue mail in the caller's transaction: a change and its e-mail commit together, or neither."""

from __future__ import annotations

import functools
import uuid
from email.utils import parseaddr

from sqlalchemy import Connection, insert

from authsvc.config import Settings
from authsvc.db.models import OutboxStatus, outbox_table
from authsvc.db.types import utcnow
from authsvc.mail.compose import ComposedMail, one_line

FALLBACK_DOMAIN = "authsvc.localhost"
# A Core INSERT built once: the ORM unit of work for a row that is never read back in the request
# cost more than the insert itself.
_INSERT_MESSAGE = insert(outbox_table)


@functools.lru_cache(maxsize=16)  # parsing the address cost as much as an INSERT, per message
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
    connection: Connection,
    *,
    kind: str,
    recipient: str,
    mail: ComposedMail,
    settings: Settings,
) -> str:
    """Insert one PENDING message in the caller's transaction (it commits); its Message-ID."""
    if recipient != one_line(recipient) or "@" not in recipient:
        # Refuse here, in the request, rather than let the worker retry a hopeless address.
        raise ValueError("recipient must be a single e-mail address")
    now = utcnow()
    message_id = new_message_id(settings.mail_from)
    connection.execute(
        _INSERT_MESSAGE,
        {
            "id": uuid.uuid4(),
            "message_id": message_id,
            "kind": kind,
            "recipient": recipient,
            "subject": one_line(mail.subject),
            "body_text": mail.text,
            "body_html": mail.html,
            "status": OutboxStatus.PENDING,
            "attempts": 0,
            "created_at": now,
            "next_attempt_at": now,
        },
    )
    return message_id
