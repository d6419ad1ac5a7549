"""The SQLite writer gate (app/db/engine.py): writers queue on it, and it is always handed back."""

from __future__ import annotations

import threading
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from authsvc.db.engine import create_db_engine, make_session_factory


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Engine:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'gate.db'}", timeout_seconds=5)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
        connection.execute(text("INSERT INTO counter VALUES (0)"))
    yield engine
    engine.dispose()


def _increment(engine: Engine) -> None:
    with make_session_factory(engine, write=True).begin() as session:
        n = session.execute(text("SELECT n FROM counter")).scalar_one()
        session.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})


def _count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT n FROM counter")).scalar_one())


def test_writer_gate__concurrent_writers_all_commit_quickly(sqlite_engine: Engine) -> None:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(25):
                _increment(sqlite_engine)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert _count(sqlite_engine) == 200  # no lost update: read-then-write under one lock
    # Without the gate, SQLite's sleeping busy handler made this take seconds; keep a wide margin.
    assert time.monotonic() - started < 20


@pytest.mark.parametrize(
    "ending", ["commit", "rollback", "exception"], ids=["commit", "rollback", "exception"]
)
def test_writer_gate__is_released_however_the_transaction_ends(
    sqlite_engine: Engine, ending: str
) -> None:
    sessions = make_session_factory(sqlite_engine, write=True)
    expected = pytest.raises(RuntimeError) if ending == "exception" else nullcontext()
    with expected, sessions() as session:
        session.execute(text("UPDATE counter SET n = n + 1"))
        if ending == "commit":
            session.commit()
        elif ending == "rollback":
            session.rollback()
        else:
            raise RuntimeError("boom")
    finished = threading.Event()

    def other_writer() -> None:
        _increment(sqlite_engine)
        finished.set()

    threading.Thread(target=other_writer, daemon=True).start()
    # Well under the 5 s timeout after which a writer would proceed without the gate.
    assert finished.wait(timeout=2)


def test_writer_gate__a_connection_reused_for_two_transactions_does_not_wait_on_itself(
    sqlite_engine: Engine,
) -> None:
    write_engine = sqlite_engine.execution_options(authsvc_sqlite_immediate=True)
    started = time.monotonic()
    with write_engine.connect() as connection:
        for _ in range(2):
            with connection.begin():
                connection.execute(text("UPDATE counter SET n = n + 1"))
    assert time.monotonic() - started < 2
    assert _count(sqlite_engine) == 2


def test_writer_gate__hands_over_in_arrival_order() -> None:
    from authsvc.db.engine import _WriterGate

    gate = _WriterGate(timeout_seconds=5)
    holder: dict[str, Any] = {}
    gate.enter(holder)
    order: list[int] = []

    def writer(number: int) -> None:
        info: dict[str, Any] = {}
        gate.enter(info)
        order.append(number)
        gate.leave(info)

    threads = []
    for number in range(5):
        thread = threading.Thread(target=writer, args=(number,))
        thread.start()
        threads.append(thread)
        time.sleep(0.02)  # let each one queue before the next arrives
    gate.leave(holder)
    for thread in threads:
        thread.join(timeout=5)
    assert order == [0, 1, 2, 3, 4]


def test_writer_gate__a_writer_that_times_out_proceeds_without_it() -> None:
    from authsvc.db.engine import _WriterGate

    gate = _WriterGate(timeout_seconds=0.05)
    holder: dict[str, Any] = {}
    late: dict[str, Any] = {}
    gate.enter(holder)
    gate.enter(late)
    assert late == {"authsvc_writer_gate_held": False}
    gate.leave(late)  # leaving without holding must not release the holder's gate
    gate.leave(holder)
    again: dict[str, Any] = {}
    gate.enter(again)
    assert again == {"authsvc_writer_gate_held": True}
