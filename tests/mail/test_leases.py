"""Leases: who may send a row, and what each attempt leaves behind (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from authsvc.db.engine import create_db_engine, make_session_factory, write_engine
from authsvc.db.models import OutboxMessage, OutboxStatus, outbox_table
from authsvc.db.types import utcnow
from authsvc.mail import leases
from authsvc.mail.sealing import load_outbox_sealer
from tests.support.mail import enqueue_invites, make_settings, outbox_rows


def _claim(
    engine: Engine, *, owner: str, limit: int, lease_seconds: float
) -> list[leases.ClaimedMessage]:
    with write_engine(engine).begin() as connection:
        return leases.claim_due(connection, owner=owner, limit=limit, lease_seconds=lease_seconds)


def _fail(
    engine: Engine, claimed: leases.ClaimedMessage, *, owner: str, give_up: bool
) -> leases.FailureOutcome:
    policy = leases.RetryPolicy(max_attempts=3, backoff_seconds=10.0, backoff_max_seconds=25.0)
    with write_engine(engine).begin() as connection:
        outcomes = leases.record_failures(
            connection,
            failures=[leases.Failure(claimed.id, "E", give_up=give_up)],
            owner=owner,
            policy=policy,
        )
    return outcomes[claimed.id]


@pytest.mark.parametrize(
    ("attempts", "delay"),
    [(0, 2.0), (1, 2.0), (2, 4.0), (3, 8.0), (6, 64.0), (7, 100.0), (10_000, 100.0)],
    ids=["zero", "first", "second", "third", "sixth", "capped", "huge-no-overflow"],
)
def test_retry_delay__exponential_and_capped(attempts: int, delay: float) -> None:
    assert leases.retry_delay(attempts, base_seconds=2.0, max_seconds=100.0) == delay


def _sessions(engine: Engine) -> sessionmaker[Session]:
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

    claimed = _claim(engine, owner="w1", limit=3, lease_seconds=60)

    by_id = {row.id: row for row in outbox_rows(engine)}
    assert [by_id[c.id].message_id for c in claimed] == [ids[0], ids[2], ids[1]]
    assert all(c.queued.message_id == by_id[c.id].message_id for c in claimed)
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
        # Times are offsets from the clock when the test runs (`_set` adds them to `utcnow()`),
        # never from when the module was collected.
        ({}, True),
        ({"next_attempt_at": timedelta(hours=1)}, False),
        ({"leased_until": timedelta(hours=1), "lease_owner": "other"}, False),
        ({"leased_until": -timedelta(seconds=1), "lease_owner": "dead"}, True),
        ({"status": OutboxStatus.SENT}, False),
        ({"status": OutboxStatus.FAILED}, False),
    ],
    ids=["due", "backing-off", "leased", "lease-expired", "sent", "failed"],
)
def test_claim_due__what_is_due(
    engine: Engine, tmp_path: Path, values: dict[str, object], claimable: bool
) -> None:
    [message_id] = enqueue_invites(engine, make_settings(tmp_path), 1)
    now = utcnow()
    if values:
        _set(
            engine,
            message_id,
            **{k: now + v if isinstance(v, timedelta) else v for k, v in values.items()},
        )

    claimed = _claim(engine, owner="w1", limit=10, lease_seconds=60)

    assert len(claimed) == (1 if claimable else 0)


def test_claim_due__the_row_as_queued_token_still_sealed(engine: Engine, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    [message_id] = enqueue_invites(engine, settings, 1)

    [claimed] = _claim(engine, owner="w1", limit=10, lease_seconds=60)

    [row] = outbox_rows(engine)
    queued = claimed.queued
    assert (queued.message_id, queued.template, queued.subject) == (
        message_id,
        "invite",
        "You're invited to join Acme & Sons",
    )
    assert queued.params == row.template_params
    assert queued.sealed_token == row.sealed_token
    assert queued.sealed_token is not None
    assert load_outbox_sealer(settings).open(queued.sealed_token) == "tok-0-secret"


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
    [claimed] = _claim(engine, owner="w1", limit=1, lease_seconds=1)
    if values:
        _set(engine, message_id, **values)

    with write_engine(engine).begin() as connection:
        ours = leases.renew_leases(connection, ids=[claimed.id], owner=owner, lease_seconds=60)
    ok = ours == {claimed.id}

    [row] = outbox_rows(engine)
    assert ok is renewed
    assert row.leased_until is not None
    assert (row.leased_until > utcnow() + timedelta(seconds=30)) is renewed


def test_record_sent__scrubs_bodies_once(engine: Engine, tmp_path: Path) -> None:
    enqueue_invites(engine, make_settings(tmp_path), 1)
    [claimed] = _claim(engine, owner="w1", limit=1, lease_seconds=60)

    with write_engine(engine).begin() as connection:
        first = leases.record_sent(connection, ids=[claimed.id])
    with write_engine(engine).begin() as connection:
        second = leases.record_sent(connection, ids=[claimed.id])

    [row] = outbox_rows(engine)
    assert (first, second) == (1, 0)
    assert (row.status, row.attempts, row.sealed_token) == (OutboxStatus.SENT, 1, None)
    assert row.sent_at is not None
    assert row.leased_until is None


def test_record_failure__retries_with_backoff_then_gives_up(engine: Engine, tmp_path: Path) -> None:
    enqueue_invites(engine, make_settings(tmp_path), 1)
    outcomes, delays = [], []
    for _ in range(3):
        _set_due(engine)
        [claimed] = _claim(engine, owner="w1", limit=1, lease_seconds=60)
        before = utcnow()
        outcomes.append(_fail(engine, claimed, owner="w1", give_up=False))
        [row] = outbox_rows(engine)
        delays.append(round((row.next_attempt_at - before).total_seconds()))

    assert outcomes == ["retry", "retry", "failed"]
    assert delays[:2] == [10, 20]
    assert (row.status, row.attempts, row.last_error) == (OutboxStatus.FAILED, 3, "E")
    assert (row.sealed_token, row.lease_owner, row.leased_until) == (None,) * 3


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
    [claimed] = _claim(engine, owner="w1", limit=1, lease_seconds=60)

    result = _fail(engine, claimed, owner=owner, give_up=give_up)

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
            target=lambda: claimed_by_b.extend(_claim(engine, owner="B", limit=4, lease_seconds=60))
        )
        worker_b.start()
        # PostgreSQL: B skips A's locked rows at once. SQLite: B waits for A's write lock.
        worker_b.join(0.3)
    worker_b.join(10)

    assert {c.id for c in claimed_by_b}.isdisjoint({row.id for row in rows_a})
    assert len(claimed_by_b) == 2
    assert sorted(row.lease_owner or "" for row in outbox_rows(engine)) == ["A", "A", "B", "B"]


def test_claim_due__concurrent_batch_claims__no_row_handed_to_two_workers(
    database_url: str, tmp_path: Path
) -> None:
    engines = [create_db_engine(database_url, timeout_seconds=10) for _ in range(4)]
    ids = enqueue_invites(engines[0], make_settings(tmp_path), 120)
    start = threading.Barrier(len(engines))
    claims: dict[str, list[uuid.UUID]] = {}
    errors: list[BaseException] = []

    def claim_until_empty(engine: Engine, owner: str) -> None:
        mine: list[uuid.UUID] = []
        try:
            start.wait(10)
            while batch := _claim(engine, owner=owner, limit=7, lease_seconds=600):
                mine += [message.id for message in batch]
        except BaseException as exc:
            errors.append(exc)
        claims[owner] = mine

    threads = [
        threading.Thread(target=claim_until_empty, args=(engine, f"w{n}"))
        for n, engine in enumerate(engines)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for engine in engines:
        engine.dispose()

    assert errors == []
    everything = [message_id for mine in claims.values() for message_id in mine]
    assert len(everything) == len(set(everything)) == len(ids)  # each row once, none missed
    with create_db_engine(database_url).connect() as connection:
        owners = dict(
            connection.execute(select(outbox_table.c.id, outbox_table.c.lease_owner)).all()
        )
    assert all(owners[message_id] == owner for owner, mine in claims.items() for message_id in mine)
