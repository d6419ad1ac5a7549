"""SQLite writes that must not wait: `write_engine(nowait=True)` takes the lock now or not at all."""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, insert, select

from authsvc.db.engine import WriterBusy, create_db_engine, write_engine
from authsvc.db.models import customers_table
from authsvc.db.types import utcnow

TIMEOUT = 5.0  # the engine's busy timeout: a nowait writer must never spend it


@pytest.fixture
def db_path(tmp_path: Path, sqlite_template: Path) -> Path:
    path = tmp_path / "authsvc.db"
    shutil.copy(sqlite_template, path)
    return path


@pytest.fixture
def engine(db_path: Path) -> Iterator[Engine]:
    engine = create_db_engine(f"sqlite:///{db_path}", timeout_seconds=TIMEOUT)
    yield engine
    engine.dispose()


def add_customer(engine: Engine, *, nowait: bool) -> None:
    with write_engine(engine, nowait=nowait).begin() as connection:
        connection.execute(
            insert(customers_table), {"id": uuid.uuid4(), "name": "c", "created_at": utcnow()}
        )


def customers(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(customers_table)) or 0)


def test_nowait__free_lock__writes(engine: Engine) -> None:
    add_customer(engine, nowait=True)
    assert customers(engine) == 1


def test_nowait__lock_held_in_this_process__busy_at_once(engine: Engine) -> None:
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with write_engine(engine).begin():
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(10)
        started = time.monotonic()
        with pytest.raises(WriterBusy):
            add_customer(engine, nowait=True)
        assert time.monotonic() - started < 0.5  # no wait on the busy timeout
    finally:
        release.set()
        holder.join(10)
    add_customer(engine, nowait=True)  # the gate is free again, and was not left held
    assert customers(engine) == 1


def test_nowait__lock_held_by_another_process__busy_at_once_then_waits_normally(
    engine: Engine, db_path: Path
) -> None:
    assert customers(engine) == 0  # connected (and in WAL mode) before the other process writes
    other = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        with pytest.raises(WriterBusy):
            add_customer(engine, nowait=True)
        assert time.monotonic() - started < 0.5
        threading.Timer(0.3, other.rollback).start()
        started = time.monotonic()
        add_customer(engine, nowait=False)  # the same pooled connection waits as configured
        assert time.monotonic() - started >= 0.25
    finally:
        other.close()
    assert customers(engine) == 1


def test_nowait__keeps_the_busy_timeout_of_the_connection(engine: Engine) -> None:
    add_customer(engine, nowait=True)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == TIMEOUT * 1000
