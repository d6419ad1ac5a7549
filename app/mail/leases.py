"""Who may send an outbox row, and what an attempt leaves behind: units of work on a Connection.

A worker claims due rows by writing a lease (`lease_owner`, `leased_until`): PostgreSQL picks the
rows with `SELECT ... FOR UPDATE SKIP LOCKED`, so concurrent workers claim disjoint sets without
waiting; SQLite runs the same statements inside `BEGIN IMMEDIATE`, which serialises claimers
(SQLAlchemy renders no `FOR UPDATE` there). A row whose lease has expired is due again, which is
how a crashed worker's messages come back.

Each function is a unit of work: it runs in the caller's transaction (the worker's runner: SQLite's
group commit inside `authsvc serve`, else a transaction of its own) and handles a whole batch in a
few statements, so delivering a hundred messages costs a few statements, not a few hundred
transactions each with its own sync. Nothing is ever held open while mail is sent.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, or_, select, update

from authsvc.db.models import OutboxStatus, outbox_table
from authsvc.db.types import utcnow
from authsvc.mail.outbox import QueuedMail

_t = outbox_table
# Statements built once: building and cache-keying an expression costs more than running it.
_CLAIMABLE = (
    select(
        _t.c.id,
        _t.c.attempts,
        _t.c.message_id,
        _t.c.kind,
        _t.c.recipient,
        _t.c.subject,
        _t.c.template_params,
        _t.c.sealed_token,
        _t.c.created_at,
    )
    .where(
        _t.c.status == OutboxStatus.PENDING,
        _t.c.next_attempt_at <= bindparam("b_now"),
        or_(_t.c.leased_until.is_(None), _t.c.leased_until < bindparam("b_now")),
    )
    .order_by(_t.c.next_attempt_at, _t.c.id)
    .limit(bindparam("b_limit"))
    .with_for_update(skip_locked=True)
)
_LEASE = (
    update(_t)
    .where(_t.c.id.in_(bindparam("b_ids", expanding=True)))
    .values(lease_owner=bindparam("b_owner"), leased_until=bindparam("b_until"))
)
_RENEW = (
    update(_t)
    .where(
        _t.c.id.in_(bindparam("b_ids", expanding=True)),
        _t.c.lease_owner == bindparam("b_owner"),
        _t.c.status == OutboxStatus.PENDING,
    )
    .values(leased_until=bindparam("b_until"))
    .returning(_t.c.id)
)
# Not conditional on the lease: the message was delivered, so SENT is simply true, and recording
# it even after losing the lease stops the new owner from sending it again.
_RECORD_SENT = (
    update(_t)
    .where(_t.c.id.in_(bindparam("b_ids", expanding=True)), _t.c.status != OutboxStatus.SENT)
    .values(
        status=OutboxStatus.SENT,
        sent_at=bindparam("b_now"),
        attempts=_t.c.attempts + 1,
        leased_until=None,
        sealed_token=None,
    )
)
_OWNED = (
    select(_t.c.id, _t.c.attempts)
    .where(
        _t.c.id.in_(bindparam("b_ids", expanding=True)),
        _t.c.lease_owner == bindparam("b_owner"),
        _t.c.status == OutboxStatus.PENDING,
    )
    .with_for_update()
)
_SETTLE_FAILURE = (
    update(_t)
    .where(_t.c.id == bindparam("b_id"))
    .values(
        attempts=bindparam("b_attempts"),
        last_error=bindparam("b_error"),
        leased_until=None,
        lease_owner=None,
        status=bindparam("b_status"),
        next_attempt_at=bindparam("b_next"),
    )
)
_SCRUB = update(_t).where(_t.c.id.in_(bindparam("b_ids", expanding=True))).values(sealed_token=None)


@dataclass(frozen=True, slots=True)
class ClaimedMessage:
    """A leased row, copied out of its transaction: rendered and sent outside any."""

    id: uuid.UUID
    attempts: int
    queued: QueuedMail


@dataclass(frozen=True, slots=True)
class Failure:
    """A failed attempt to report: which row, and the error text (safe to store)."""

    id: uuid.UUID
    error: str
    give_up: bool = False  # nothing left to send: FAILED at once


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When a failed message is tried again, and when it is given up (FAILED)."""

    max_attempts: int
    backoff_seconds: float
    backoff_max_seconds: float


class FailureOutcome(enum.StrEnum):
    RETRY = "retry"  # back to PENDING, due again after the backoff
    FAILED = "failed"  # gave up: max attempts reached (or nothing left to send)
    LEASE_LOST = "lease-lost"  # another worker owns the row now; it decides


def retry_delay(attempts: int, *, base_seconds: float, max_seconds: float) -> float:
    """Exponential backoff after the `attempts`-th failure: base, 2*base, 4*base... capped."""
    exponent = min(max(attempts - 1, 0), 62)  # bounded so the float never overflows
    return float(min(base_seconds * 2**exponent, max_seconds))


def claim_due(
    connection: Connection, *, owner: str, limit: int, lease_seconds: float
) -> list[ClaimedMessage]:
    """Lease up to `limit` due rows to `owner`, oldest due first, in two statements."""
    now = utcnow()
    rows = connection.execute(_CLAIMABLE, {"b_now": now, "b_limit": limit}).all()
    if rows:
        connection.execute(
            _LEASE,
            {
                "b_ids": [row.id for row in rows],
                "b_owner": owner,
                "b_until": now + timedelta(seconds=lease_seconds),
            },
        )
    return [_snapshot(row) for row in rows]


def renew_leases(
    connection: Connection, *, ids: Collection[uuid.UUID], owner: str, lease_seconds: float
) -> set[uuid.UUID]:
    """Extend `owner`'s leases on `ids`; the ids still `owner`'s to send (the others are not)."""
    # Checked right before sending (not only at claim time): a slow batch must not send a message
    # whose lease expired meanwhile and which another worker may be sending too. One conditional
    # UPDATE (it locks the rows on PostgreSQL) does the check and the renewal.
    if not ids:
        return set()
    renewed = connection.execute(
        _RENEW,
        {
            "b_ids": list(ids),
            "b_owner": owner,
            "b_until": utcnow() + timedelta(seconds=lease_seconds),
        },
    )
    return set(renewed.scalars())


def record_sent(connection: Connection, *, ids: Collection[uuid.UUID]) -> int:
    """Mark delivered rows SENT and scrub their sealed tokens; how many were not SENT already."""
    if not ids:
        return 0
    return connection.execute(_RECORD_SENT, {"b_ids": list(ids), "b_now": utcnow()}).rowcount


def record_failures(
    connection: Connection, *, failures: Collection[Failure], owner: str, policy: RetryPolicy
) -> dict[uuid.UUID, FailureOutcome]:
    """Count failed attempts: schedule each retry, or give up after `max_attempts` (FAILED)."""
    if not failures:
        return {}
    # Locks `owner`'s rows on PostgreSQL; the others are not ours to settle.
    rows = connection.execute(_OWNED, {"b_ids": [f.id for f in failures], "b_owner": owner})
    owned: dict[uuid.UUID, int] = {row.id: row.attempts for row in rows}
    now = utcnow()
    outcomes: dict[uuid.UUID, FailureOutcome] = {}
    settled: list[dict[str, object]] = []
    given_up: list[uuid.UUID] = []
    for failure in failures:
        if failure.id not in owned:
            outcomes[failure.id] = FailureOutcome.LEASE_LOST
            continue
        attempts = owned[failure.id] + 1
        if failure.give_up or attempts >= policy.max_attempts:
            outcomes[failure.id] = FailureOutcome.FAILED
            given_up.append(failure.id)
            status, next_at = OutboxStatus.FAILED, now
        else:
            outcomes[failure.id] = FailureOutcome.RETRY
            delay = retry_delay(
                attempts,
                base_seconds=policy.backoff_seconds,
                max_seconds=policy.backoff_max_seconds,
            )
            status, next_at = OutboxStatus.PENDING, now + timedelta(seconds=delay)
        settled.append(
            {
                "b_id": failure.id,
                "b_attempts": attempts,
                "b_error": failure.error,
                "b_status": status,
                "b_next": next_at,
            }
        )
    if settled:
        connection.execute(_SETTLE_FAILURE, settled)
    if given_up:
        # Nobody will send it: keep no token, even sealed. The remedy is a new invitation anyway.
        connection.execute(_SCRUB, {"b_ids": given_up})
    return outcomes


def _snapshot(row: Any) -> ClaimedMessage:  # a Row of `_CLAIMABLE`
    queued = QueuedMail(
        message_id=row.message_id,
        template=row.kind,
        recipient=row.recipient,
        subject=row.subject,
        params=row.template_params,
        sealed_token=row.sealed_token,
        created_at=row.created_at,
    )
    return ClaimedMessage(id=row.id, attempts=row.attempts, queued=queued)
