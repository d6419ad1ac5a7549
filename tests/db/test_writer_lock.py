"""SQLite connections: the write lock taken up front, bounded waits for it, durable commits."""

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

from authsvc.db.engine import create_db_engine, write_engine
from authsvc.db.models import customers_table
from authsvc.db.types import utcnow

TIMEOUT = 5.0  # the engine's busy timeout


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


def add_customer(engine: Engine) -> None:
    with write_engine(engine).begin() as connection:
        connection.execute(
            insert(customers_table), {"id": uuid.uuid4(), "name": "c", "created_at": utcnow()}
        )


def customers(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(customers_table)) or 0)


def test_write_transaction__takes_the_lock_at_begin(engine: Engine, db_path: Path) -> None:
    with write_engine(engine).begin():
        other = sqlite3.connect(db_path, isolation_level=None, timeout=0)
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")  # held by us before any statement ran
        finally:
            other.close()


def test_lock_held_by_another_process__the_writer_waits_then_writes(
    engine: Engine, db_path: Path
) -> None:
    assert customers(engine) == 0  # connected (and in WAL mode) before the other process writes
    other = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    try:
        threading.Timer(0.3, other.rollback).start()
        started = time.monotonic()
        add_customer(engine)  # waits for the lock, within the busy timeout
        assert time.monotonic() - started >= 0.25
    finally:
        other.close()
    assert customers(engine) == 1


@pytest.mark.parametrize(
    ("pragma", "expected"),
    [
        ("journal_mode", "wal"),
        ("synchronous", 2),  # FULL: every commit syncs the log (docs/reliability.md)
        ("foreign_keys", 1),
        ("busy_timeout", TIMEOUT * 1000),
    ],
    ids=["wal", "synchronous-full", "foreign-keys", "busy-timeout"],
)
def test_every_connection__has_the_durability_and_wait_pragmas(
    engine: Engine, pragma: str, expected: object
) -> None:
    add_customer(engine)
    held = [engine.connect() for _ in range(3)]  # several pooled connections, not only the first
    try:
        for connection in held:
            assert connection.exec_driver_sql(f"PRAGMA {pragma}").scalar() == expected
    finally:
        for connection in held:
            connection.close()
