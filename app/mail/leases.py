"""Who may send an outbox row, and what an attempt leaves behind.

A worker claims due rows by writing a lease (`lease_owner`, `leased_until`) in one short
transaction: PostgreSQL picks rows with `SELECT ... FOR UPDATE SKIP LOCKED`, so concurrent workers
claim disjoint sets without waiting; SQLite runs the same statements inside `BEGIN IMMEDIATE`, which
serialises claimers (SQLAlchemy renders no `FOR UPDATE` there). A row whose lease has expired is due
again, which is how a crashed worker's messages come back.

Every function here is one transaction of its own: nothing is ever held open while mail is sent.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Engine, and_, bindparam, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from authsvc.db.models import OutboxMessage, OutboxStatus, outbox_table
from authsvc.db.types import utcnow
from authsvc.mail.transport import OutboundMail

SessionFactory = sessionmaker[Session]

# The per-message statements, as single conditional Core UPDATEs built once: each used to load the
# row through the ORM and flush it back, several times the cost of the write itself.
_RENEW = (
    update(outbox_table)
    .where(
        outbox_table.c.id == bindparam("b_id"),
        outbox_table.c.lease_owner == bindparam("b_owner"),
        outbox_table.c.status == OutboxStatus.PENDING,
    )
    .values(leased_until=bindparam("b_until"))
)
_RECORD_SENT = (
    update(outbox_table)
    .where(outbox_table.c.id == bindparam("b_id"), outbox_table.c.status != OutboxStatus.SENT)
    .values(
        status=OutboxStatus.SENT,
        sent_at=bindparam("b_now"),
        attempts=outbox_table.c.attempts + 1,
        leased_until=None,
        body_text=None,
        body_html=None,
    )
)


@dataclass(frozen=True, slots=True)
class ClaimedMessage:
    """A leased row, copied out of its session; `mail` is None if its bodies are already gone."""

    id: uuid.UUID
    attempts: int
    mail: OutboundMail | None


class FailureOutcome(enum.StrEnum):
    RETRY = "retry"  # back to PENDING, due again after the backoff
    FAILED = "failed"  # gave up: max attempts reached (or nothing left to send)
    LEASE_LOST = "lease-lost"  # another worker owns the row now; it decides


def retry_delay(attempts: int, *, base_seconds: float, max_seconds: float) -> float:
    """Exponential backoff after the `attempts`-th failure: base, 2*base, 4*base... capped."""
    exponent = min(max(attempts - 1, 0), 62)  # bounded so the float never overflows
    return float(min(base_seconds * 2**exponent, max_seconds))


def _due(now: datetime) -> ColumnElement[bool]:
    return and_(
        OutboxMessage.status == OutboxStatus.PENDING,
        OutboxMessage.next_attempt_at <= now,
        or_(OutboxMessage.leased_until.is_(None), OutboxMessage.leased_until < now),
    )


def claim_due(
    sessions: SessionFactory, *, owner: str, limit: int, lease_seconds: float
) -> list[ClaimedMessage]:
    """Lease up to `limit` due rows to `owner`, oldest due first; commits before returning."""
    now = utcnow()
    with sessions.begin() as session:
        query = (
            select(OutboxMessage)
            .where(_due(now))
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = session.scalars(query).all()
        for row in rows:
            row.lease_owner = owner
            row.leased_until = now + timedelta(seconds=lease_seconds)
        return [_snapshot(row) for row in rows]


def renew_lease(engine: Engine, *, message_id: uuid.UUID, owner: str, lease_seconds: float) -> bool:
    """Extend `owner`'s lease just before sending; False if the row is no longer ours to send."""
    # Checking right before each send (not only at claim time) keeps a slow batch from sending a
    # message whose lease expired meanwhile and which another worker may be sending too. One
    # conditional UPDATE (it locks the row on PostgreSQL) does the check and the renewal.
    with engine.begin() as connection:
        renewed = connection.execute(
            _RENEW,
            {
                "b_id": message_id,
                "b_owner": owner,
                "b_until": utcnow() + timedelta(seconds=lease_seconds),
            },
        )
        return renewed.rowcount == 1


def record_sent(engine: Engine, *, message_id: uuid.UUID) -> bool:
    """Mark the row SENT and scrub its bodies (they hold the invite token); False if it was."""
    # Not conditional on the lease: the server accepted the message, so SENT is simply true, and
    # recording it even after losing the lease stops the new owner from sending it again.
    with engine.begin() as connection:
        recorded = connection.execute(_RECORD_SENT, {"b_id": message_id, "b_now": utcnow()})
        return recorded.rowcount == 1


def record_failure(
    sessions: SessionFactory,
    *,
    message_id: uuid.UUID,
    owner: str,
    error: str,
    max_attempts: int,
    backoff_seconds: float,
    backoff_max_seconds: float,
    give_up: bool = False,
) -> FailureOutcome:
    """Count a failed attempt: schedule the retry, or give up after `max_attempts` (FAILED)."""
    with sessions.begin() as session:
        row = _locked(session, message_id, owner=owner)
        if row is None:
            return FailureOutcome.LEASE_LOST
        row.attempts += 1
        row.last_error = error
        row.leased_until = None
        row.lease_owner = None
        if give_up or row.attempts >= max_attempts:
            row.status = OutboxStatus.FAILED
            # Nobody will send it: keep no live token. The remedy is a new invitation anyway.
            row.body_text = None
            row.body_html = None
            return FailureOutcome.FAILED
        delay = retry_delay(
            row.attempts, base_seconds=backoff_seconds, max_seconds=backoff_max_seconds
        )
        row.next_attempt_at = utcnow() + timedelta(seconds=delay)
        return FailureOutcome.RETRY


def _locked(session: Session, message_id: uuid.UUID, *, owner: str) -> OutboxMessage | None:
    return session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            OutboxMessage.lease_owner == owner,
            OutboxMessage.status == OutboxStatus.PENDING,
        )
        .with_for_update()
    ).one_or_none()


def _snapshot(row: OutboxMessage) -> ClaimedMessage:
    mail = None
    if row.body_text is not None and row.body_html is not None:
        mail = OutboundMail(
            message_id=row.message_id,
            recipient=row.recipient,
            subject=row.subject,
            text=row.body_text,
            html=row.body_html,
            created_at=row.created_at,
        )
    return ClaimedMessage(id=row.id, attempts=row.attempts, mail=mail)
