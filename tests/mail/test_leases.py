"""Leases: who may send a row, and what each attempt leaves behind (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update

from authsvc.db.engine import make_session_factory, write_engine
from authsvc.db.models import OutboxMessage, OutboxStatus
from authsvc.db.types import utcnow
from authsvc.mail import leases
from tests.support.mail import enqueue_invites, make_settings, outbox_rows


def _fail(
    sessions: leases.SessionFactory, claimed: leases.ClaimedMessage, *, owner: str, give_up: bool
) -> leases.FailureOutcome:
    return leases.record_failure(
        sessions,
        message_id=claimed.id,
        owner=owner,
        error="E",
        max_attempts=3,
        backoff_seconds=10.0,
        backoff_max_seconds=25.0,
        give_up=give_up,
    )


@pytest.mark.parametrize(
    ("attempts", "delay"),
    [(0, 2.0), (1, 2.0), (2, 4.0), (3, 8.0), (6, 64.0), (7, 100.0), (10_000, 100.0)],
    ids=["zero", "first", "second", "third", "sixth", "capped", "huge-no-overflow"],
)
def test_retry_delay__exponential_and_capped(attempts: int, delay: float) -> None:
    assert leases.retry_delay(attempts, base_seconds=2.0, max_seconds=100.0) == delay


def _sessions(engine: Engine) -> leases.SessionFactory:
    return make_session_factory(engine, write=True)


def _set(engine: Engine, message_id: str, **values: object) -> None:
    with _sessions(engine).begin() as session:
        session.execute(
            update(OutboxMessage).where(OutboxMessage.message_id == message_id).values(**values)
        )


def test_claim_due__leases_due_rows_oldest_first_up_to_limit(
    engine: Engine, tmp_path: Path
) -> None:
    ids = enqueue_invites(engine, make_settings(tmp_path), 4)
    now = utcnow()
    for offset, message_id in zip((3, 1, 2, 0), ids, strict=True):
        _set(engine, message_id, next_attempt_at=now - timedelta(seconds=offset))

    claimed = leases.claim_due(_sessions(engine), owner="w1", limit=3, lease_seconds=60)

    by_id = {row.id: row for row in outbox_rows(engine)}
    assert [by_id[c.id].message_id for c in claimed] == [ids[0], ids[2], ids[1]]
    assert all(c.mail is not None and c.mail.message_id == by_id[c.id].message_id for c in claimed)
    for claim in claimed:
        row = by_id[claim.id]
        assert row.lease_owner == "w1"
        assert row.leased_until is not None
        assert row.leased_until > utcnow() + timedelta(seconds=55)
    assert by_id.keys() - {c.id for c in claimed} == {
        r.id for r in by_id.values() if r.message_id == ids[3]
    }


@pytest.mark.parametrize(
    ("values", "claimable"),
    [
        ({}, True),
        ({"next_attempt_at": utcnow() + timedelta(hours=1)}, False),
        ({"leased_until": utcnow() + timedelta(hours=1), "lease_owner": "other"}, False),
        ({"leased_until": utcnow() - timedelta(seconds=1), "lease_owner": "dead"}, True),
        ({"status": OutboxStatus.SENT}, False),
        ({"status": OutboxStatus.FAILED}, False),
    ],
    ids=["due", "backing-off", "leased", "lease-expired", "sent", "failed"],
)
def test_claim_due__what_is_due(
    engine: Engine, tmp_path: Path, values: dict[str, object], claimable: bool
) -> None:
    [message_id] = enqueue_invites(engine, make_settings(tmp_path), 1)
    if values:
        _set(engine, message_id, **values)

    claimed = leases.claim_due(_sessions(engine), owner="w1", limit=10, lease_seconds=60)

    assert len(claimed) == (1 if claimable else 0)


def test_claim_due__scrubbed_row__claimed_without_mail(engine: Engine, tmp_path: Path) -> None:
    [message_id] = enqueue_invites(engine, make_settings(tmp_path), 1)
    _set(engine, message_id, body_text=None, body_html=None)

    [claimed] = leases.claim_due(_sessions(engine), owner="w1", limit=10, lease_seconds=60)

    assert claimed.mail is None


@pytest.mark.parametrize(
    ("owner", "values", "renewed"),
    [
        ("w1", {}, True),
        ("w2", {}, False),
        ("w1", {"status": OutboxStatus.SENT}, False),
    ],
    ids=["owner", "someone-else", "already-sent"],
)
def test_renew_lease__only_the_owner_of_a_pending_row(
    engine: Engine, tmp_path: Path, owner: str, values: dict[str, object], renewed: bool
) -> None:
    [message_id] = enqueue_invites(engine, make_settings(tmp_path), 1)
    [claimed] = leases.claim_due(_sessions(engine), owner="w1", limit=1, lease_seconds=1)
    if values:
        _set(engine, message_id, **values)

    ok = leases.renew_lease(
        write_engine(engine), message_id=claimed.id, owner=owner, lease_seconds=60
    )

    [row] = outbox_rows(engine)
    assert ok is renewed
    assert row.leased_until is not None
    assert (row.leased_until > utcnow() + timedelta(seconds=30)) is renewed


def test_record_sent__scrubs_bodies_once(engine: Engine, tmp_path: Path) -> None:
    enqueue_invites(engine, make_settings(tmp_path), 1)
    [claimed] = leases.claim_due(_sessions(engine), owner="w1", limit=1, lease_seconds=60)

    first = leases.record_sent(write_engine(engine), message_id=claimed.id)
    second = leases.record_sent(write_engine(engine), message_id=claimed.id)

    [row] = outbox_rows(engine)
    assert (first, second) == (True, False)
    assert (row.status, row.attempts, row.body_text, row.body_html) == (
        OutboxStatus.SENT,
        1,
        None,
        None,
    )
    assert row.sent_at is not None
    assert row.leased_until is None


def test_record_failure__retries_with_backoff_then_gives_up(engine: Engine, tmp_path: Path) -> None:
    enqueue_invites(engine, make_settings(tmp_path), 1)
    sessions = _sessions(engine)
    outcomes, delays = [], []
    for _ in range(3):
        _set_due(engine)
        [claimed] = leases.claim_due(sessions, owner="w1", limit=1, lease_seconds=60)
        before = utcnow()
        outcomes.append(_fail(sessions, claimed, owner="w1", give_up=False))
        [row] = outbox_rows(engine)
        delays.append(round((row.next_attempt_at - before).total_seconds()))

    assert outcomes == ["retry", "retry", "failed"]
    assert delays[:2] == [10, 20]
    assert (row.status, row.attempts, row.last_error) == (OutboxStatus.FAILED, 3, "E")
    assert (row.body_text, row.body_html, row.lease_owner, row.leased_until) == (None,) * 4


def _set_due(engine: Engine) -> None:
    with _sessions(engine).begin() as session:
        session.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
    time.sleep(0.001)  # strictly after next_attempt_at, whatever the clock resolution


@pytest.mark.parametrize(
    ("owner", "give_up", "outcome", "status"),
    [
        ("w2", False, "lease-lost", OutboxStatus.PENDING),
        ("w1", True, "failed", OutboxStatus.FAILED),
    ],
    ids=["not-the-owner", "give-up"],
)
def test_record_failure__variants(
    engine: Engine,
    tmp_path: Path,
    owner: str,
    give_up: bool,
    outcome: str,
    status: OutboxStatus,
) -> None:
    enqueue_invites(engine, make_settings(tmp_path), 1)
    [claimed] = leases.claim_due(_sessions(engine), owner="w1", limit=1, lease_seconds=60)

    result = _fail(_sessions(engine), claimed, owner=owner, give_up=give_up)

    [row] = outbox_rows(engine)
    assert (result, row.status) == (outcome, status)


def test_claim_due__concurrent_claims_are_disjoint(engine: Engine, tmp_path: Path) -> None:
    enqueue_invites(engine, make_settings(tmp_path), 4)
    sessions = _sessions(engine)
    claimed_by_b: list[leases.ClaimedMessage] = []
    with sessions.begin() as held:  # worker A, caught between claiming and committing
        rows_a = held.scalars(
            select(OutboxMessage).limit(2).with_for_update(skip_locked=True)
        ).all()
        for row in rows_a:
            row.lease_owner, row.leased_until = "A", utcnow() + timedelta(seconds=60)
        held.flush()
        worker_b = threading.Thread(
            target=lambda: claimed_by_b.extend(
                leases.claim_due(sessions, owner="B", limit=4, lease_seconds=60)
            )
        )
        worker_b.start()
        # PostgreSQL: B skips A's locked rows at once. SQLite: B waits for A's write lock.
        worker_b.join(0.3)
    worker_b.join(10)

    assert {c.id for c in claimed_by_b}.isdisjoint({row.id for row in rows_a})
    assert len(claimed_by_b) == 2
    assert sorted(row.lease_owner or "" for row in outbox_rows(engine)) == ["A", "A", "B", "B"]
