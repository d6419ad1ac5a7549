"""The one throttle on SQLite and PostgreSQL, with the clock passed in (no test waits on time)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest
from sqlalchemy import Connection, Engine, func, insert, select

from authsvc.db.engine import write_engine
from authsvc.db.models import throttle_events_table
from authsvc.db.runner import run_in_transaction
from authsvc.services.throttle import (
    PRUNE_BATCH,
    Backoff,
    Decision,
    Window,
    clear,
    hit,
    key_digest,
    peek,
    release,
)

T = TypeVar("T")
T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
WINDOW = Window("test:window", ceiling=3, seconds=60)
# Cognito's sign-in numbers: 5 free, then 1 s doubling to 900 s; forgotten after 15 quiet minutes.
COGNITO = Backoff("test:backoff", free=5, base_seconds=1, cap_seconds=900, quiet_seconds=900)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def in_transaction(engine: Engine, work: Callable[[Connection], T]) -> T:
    """`work` in its own write transaction, as a unit of work runs (SQLite: BEGIN IMMEDIATE)."""
    return run_in_transaction(write_engine(engine), work)


def rows(engine: Engine, scope: str | None = None) -> int:
    query = select(func.count()).select_from(throttle_events_table)
    if scope is not None:
        query = query.where(throttle_events_table.c.scope == scope)
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def test_window__ceiling_events_then_retry_after_the_oldest_leaves(engine: Engine) -> None:
    def hit_at(seconds: float, key: str = "203.0.113.7") -> Decision:
        return in_transaction(engine, lambda c: hit(c, WINDOW, key, now=at(seconds)))

    assert [hit_at(s).allowed for s in (0, 10, 20)] == [True, True, True]
    assert hit_at(30).retry_after == 30  # the event at 0 leaves the window at 60
    assert hit_at(59.5).retry_after == 1  # rounded up: never "retry after 0"
    assert rows(engine, WINDOW.scope) == 3  # refusals count nothing
    assert hit_at(60).allowed  # the event at 0 has left
    assert hit_at(61).retry_after == 9  # now the event at 10 is the oldest of three
    assert hit_at(61, key="203.0.113.8").allowed  # another key has its own window


def test_window__scopes_are_independent_for_one_key(engine: Engine) -> None:
    other = Window("test:other", ceiling=1, seconds=60)
    for _ in range(WINDOW.ceiling):
        assert in_transaction(engine, lambda c: hit(c, WINDOW, "k", now=at(0))).allowed
    assert in_transaction(engine, lambda c: hit(c, other, "k", now=at(0))).allowed
    assert in_transaction(engine, lambda c: hit(c, other, "k", now=at(1))).retry_after == 59


def test_peek__decides_as_hit_would_and_counts_nothing(engine: Engine) -> None:
    for seconds in (0, 1):
        assert in_transaction(engine, lambda c: peek(c, WINDOW, "k", now=at(seconds))).allowed
    assert rows(engine) == 0
    for seconds in (0, 1, 2):
        in_transaction(engine, lambda c: hit(c, WINDOW, "k", now=at(seconds)))
    assert in_transaction(engine, lambda c: peek(c, WINDOW, "k", now=at(3))) == Decision(57)
    assert rows(engine) == 3


def test_release__takes_back_the_counted_event_only(engine: Engine) -> None:
    first = in_transaction(engine, lambda c: hit(c, WINDOW, "k", now=at(0)))
    assert first.event_id is not None
    for seconds in (1, 2):
        in_transaction(engine, lambda c: hit(c, WINDOW, "k", now=at(seconds)))
    refused = in_transaction(engine, lambda c: hit(c, WINDOW, "k", now=at(3)))
    assert refused == Decision(57)
    in_transaction(engine, lambda c: release(c, refused))  # a refusal counted nothing
    assert rows(engine) == 3
    in_transaction(engine, lambda c: release(c, first))
    assert rows(engine) == 2
    assert in_transaction(engine, lambda c: hit(c, WINDOW, "k", now=at(3))).allowed


def test_backoff__free_events_then_a_doubling_delay_up_to_the_cap(engine: Engine) -> None:
    now = 0.0
    waits = []
    for _ in range(20):
        decision = in_transaction(engine, lambda c: hit(c, COGNITO, "a@example.test", now=at(now)))
        if not decision.allowed:
            waits.append(decision.retry_after)
            # Asked again at once: refused again, with the same deadline.
            again = in_transaction(
                engine, lambda c: peek(c, COGNITO, "a@example.test", now=at(now))
            )
            assert again.retry_after == decision.retry_after
            now += decision.retry_after
            decision = in_transaction(
                engine, lambda c: hit(c, COGNITO, "a@example.test", now=at(now))
            )
            assert decision.allowed
        else:
            waits.append(0)
    assert waits == [0] * 5 + [1, 2, 4, 8, 16, 32, 64, 128, 256, 512] + [900] * 5
    assert rows(engine, COGNITO.scope) == COGNITO.kept  # bounded, however long it goes on


def test_backoff__a_quiet_period_after_the_delay_or_a_clear_starts_again(engine: Engine) -> None:
    def hit_at(seconds: float) -> Decision:
        return in_transaction(engine, lambda c: hit(c, COGNITO, "k", now=at(seconds)))

    assert [hit_at(0).allowed for _ in range(COGNITO.free)] == [True] * COGNITO.free
    assert hit_at(0) == Decision(1)  # the sixth waits 1 s after the fifth
    # Quiet is counted from the end of the delay (at 1 s): one second short, the chain goes on.
    assert in_transaction(engine, lambda c: peek(c, COGNITO, "k", now=at(900))).allowed
    assert rows(engine, COGNITO.scope) == COGNITO.free
    # A full quiet period after the delay: the key starts from nothing, its old events gone.
    quiet = 1 + COGNITO.quiet_seconds
    assert [hit_at(quiet).allowed for _ in range(COGNITO.free)] == [True] * COGNITO.free
    assert rows(engine, COGNITO.scope) == COGNITO.free
    assert hit_at(quiet) == Decision(1)
    in_transaction(engine, lambda c: clear(c, COGNITO, "k"))  # a success
    assert rows(engine, COGNITO.scope) == 0
    assert hit_at(quiet).allowed


def test_hit__deletes_expired_events_of_any_key(engine: Engine) -> None:
    stale = [
        {
            "scope": WINDOW.scope,
            "key_digest": key_digest(f"old-{n}"),
            "at": at(-120),
            "expires_at": at(-60),
        }
        for n in range(PRUNE_BATCH + 2)
    ]
    with engine.begin() as connection:
        connection.execute(insert(throttle_events_table), stale)
    in_transaction(engine, lambda c: hit(c, WINDOW, "new", now=at(0)))
    assert rows(engine) == 2 + 1  # PRUNE_BATCH of the stale rows went, the new one came
    in_transaction(engine, lambda c: hit(c, WINDOW, "new", now=at(0)))
    assert rows(engine) == 2


def test_hit__stores_keys_only_as_digests(engine: Engine) -> None:
    in_transaction(engine, lambda c: hit(c, WINDOW, "ada@example.test", now=at(0)))
    with engine.connect() as connection:
        stored = connection.execute(select(throttle_events_table.c.key_digest)).scalar_one()
    assert stored == key_digest("ada@example.test")
    assert "ada" not in stored


@pytest.mark.parametrize("rule", [WINDOW, COGNITO], ids=["window", "backoff"])
def test_hit__concurrent_transactions_never_pass_the_ceiling(
    engine: Engine, rule: Window | Backoff
) -> None:
    """Each hit in its own transaction on its own thread: the ceiling holds exactly."""
    ceiling = rule.ceiling if isinstance(rule, Window) else rule.free

    def one(_n: int) -> bool:
        return in_transaction(engine, lambda c: hit(c, rule, "shared", now=at(0))).allowed

    with ThreadPoolExecutor(max_workers=8) as pool:
        allowed = list(pool.map(one, range(24)))
    assert allowed.count(True) == ceiling
    assert rows(engine, rule.scope) == ceiling
