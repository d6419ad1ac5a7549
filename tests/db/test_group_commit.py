"""Group commit on SQLite's writer thread: units waiting together share one COMMIT, and each one
still succeeds, fails or misses its deadline on its own."""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, insert, select

from authsvc.db.engine import create_db_engine, write_engine
from authsvc.db.group_commit import GroupCommit
from authsvc.db.models import customers_table
from authsvc.db.runner import is_transient
from authsvc.db.threads import WorkerThreads
from authsvc.db.types import utcnow
from authsvc.errors import ServiceUnavailable


@pytest.fixture
def sqlite_engine(tmp_path: Path, sqlite_template: Path) -> Iterator[Engine]:
    path = tmp_path / "authsvc.db"
    shutil.copy(sqlite_template, path)
    engine = create_db_engine(f"sqlite:///{path}", timeout_seconds=5)
    yield engine
    engine.dispose()


def writer(engine: Engine) -> tuple[GroupCommit, WorkerThreads, list[int]]:
    threads = WorkerThreads("test-writer", 1)
    commits: list[int] = []
    event.listen(engine, "commit", lambda _connection: commits.append(1))
    group = GroupCommit(write_engine(engine), threads, attempts=4, is_transient=is_transient)
    return group, threads, commits


def add(name: str, *, fail: bool = False, sleep: float = 0.0) -> Any:
    def work(connection: Connection) -> str:
        connection.execute(
            insert(customers_table), {"id": uuid.uuid4(), "name": name, "created_at": utcnow()}
        )
        time.sleep(sleep)
        if fail:
            raise ValueError(name)
        return name

    return work


def names(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(connection.scalars(select(customers_table.c.name)))


def test_waiting_units__one_commit__a_failing_unit_rolls_back_alone(sqlite_engine: Engine) -> None:
    group, threads, commits = writer(sqlite_engine)
    gate = threading.Event()
    busy = threads.submit(gate.wait)  # the writer is busy: the next units wait together
    futures = [group.submit(add("a"), None), group.submit(add("b", fail=True), None)]
    futures.append(group.submit(add("c"), None))
    gate.set()
    busy.result(5)

    assert futures[0].result(5) == "a"
    with pytest.raises(ValueError, match="b"):
        futures[1].result(5)
    assert futures[2].result(5) == "c"
    assert names(sqlite_engine) == {"a", "c"}
    assert commits == [1]


def test_a_unit_finishing_past_its_deadline__batch_redone_without_it(sqlite_engine: Engine) -> None:
    group, threads, commits = writer(sqlite_engine)
    gate = threading.Event()
    busy = threads.submit(gate.wait)
    soon = time.monotonic() + 0.05
    on_time = group.submit(add("on time"), None)
    late = group.submit(add("late", sleep=0.1), soon)  # still running when its deadline passes
    after = group.submit(add("after"), time.monotonic() + 30)
    gate.set()
    busy.result(5)

    assert on_time.result(5) == "on time"
    assert after.result(5) == "after"
    with pytest.raises(ServiceUnavailable):
        late.result(5)
    assert names(sqlite_engine) == {"on time", "after"}  # the late unit's row never committed
    assert commits == [1]  # the first transaction was rolled back, the redo committed


def test_a_unit_whose_deadline_passed_in_the_queue__never_runs(sqlite_engine: Engine) -> None:
    group, threads, _commits = writer(sqlite_engine)
    gate = threading.Event()
    busy = threads.submit(gate.wait)
    ran: list[str] = []

    def work(_connection: Connection) -> None:
        ran.append("ran")

    expired = group.submit(work, time.monotonic() - 1)
    fine = group.submit(add("fine"), None)
    gate.set()
    busy.result(5)

    with pytest.raises(ServiceUnavailable):
        expired.result(5)
    assert fine.result(5) == "fine"
    assert ran == []


def test_a_cancelled_unit__never_runs(sqlite_engine: Engine) -> None:
    group, threads, _commits = writer(sqlite_engine)
    gate = threading.Event()
    busy = threads.submit(gate.wait)
    cancelled = group.submit(add("cancelled"), None)
    assert cancelled.cancel()
    kept = group.submit(add("kept"), None)
    gate.set()
    busy.result(5)
    assert kept.result(5) == "kept"
    assert names(sqlite_engine) == {"kept"}
