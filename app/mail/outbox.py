"""Enqueue mail in the caller's transaction (a change and its e-mail commit together, or neither),
and render it at delivery.

A row holds the mail's template, parameters and secret token sealed with a key kept outside the
database (authsvc.mail.sealing): never the rendered mail, whose link is the token in the clear.
So neither the table, nor the pages SQLite's WAL keeps, nor a `pg_dump`, holds a usable link.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr

from sqlalchemy import Connection, insert

from authsvc.config import Settings
from authsvc.db.models import OutboxStatus, outbox_table
from authsvc.db.types import utcnow
from authsvc.mail.compose import TEMPLATES, one_line
from authsvc.mail.sealing import OutboxSealer, UnsealError
from authsvc.mail.transport import OutboundMail

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
    template: str,
    params: Mapping[str, str],
    token: str,
    recipient: str,
    settings: Settings,
    sealer: OutboxSealer,
) -> str:
    """Insert one PENDING message in the caller's transaction (it commits); its Message-ID."""
    if recipient != one_line(recipient) or "@" not in recipient:
        # Refuse here, in the request, rather than let the worker retry a hopeless address.
        raise ValueError("recipient must be a single e-mail address")
    if template not in TEMPLATES:
        raise ValueError(f"no mail template {template!r}")
    now = utcnow()
    message_id = new_message_id(settings.mail_from)
    connection.execute(
        _INSERT_MESSAGE,
        {
            "id": uuid.uuid4(),
            "message_id": message_id,
            "kind": template,
            "recipient": recipient,
            "subject": one_line(TEMPLATES[template].subject(params)),
            "template_params": dict(params),
            "sealed_token": sealer.seal(token),
            "status": OutboxStatus.PENDING,
            "attempts": 0,
            "created_at": now,
            "next_attempt_at": now,
        },
    )
    return message_id


@dataclass(frozen=True, slots=True)
class QueuedMail:
    """A row's content as claimed: what `render_queued` needs, the token still sealed."""

    message_id: str
    template: str
    recipient: str
    subject: str
    params: Mapping[str, str] | None
    sealed_token: str | None  # None once the row is settled (SENT or FAILED): nothing to send
    created_at: datetime


class NotDeliverable(Exception):
    """A queued mail that cannot be rendered now; the text is safe to store and log."""

    def __init__(self, reason: str, *, give_up: bool) -> None:
        super().__init__(reason)
        self.give_up = give_up  # True: no attempt can ever succeed (FAILED at once)


def render_queued(queued: QueuedMail, *, settings: Settings, sealer: OutboxSealer) -> OutboundMail:
    """The mail to send, rendered from its template with its token opened (only in memory)."""
    template = TEMPLATES.get(queued.template)
    if template is None or queued.params is None or queued.sealed_token is None:
        raise NotDeliverable(
            "nothing left to send (no template, parameters or token)", give_up=True
        )
    try:
        token = sealer.open(queued.sealed_token)
    except UnsealError as exc:
        # A worker with the wrong keys: retried with backoff, so fixing the setting delivers it.
        raise NotDeliverable(str(exc), give_up=False) from None
    try:
        composed = template.render(settings, queued.params, token)
    except (KeyError, ValueError) as exc:
        raise NotDeliverable(f"cannot render: {type(exc).__name__}", give_up=True) from None
    return OutboundMail(
        message_id=queued.message_id,
        recipient=queued.recipient,
        subject=queued.subject,
        text=composed.text,
        html=composed.html,
        created_at=queued.created_at,
    )
