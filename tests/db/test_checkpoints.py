"""Background WAL checkpoints: commits stop checkpointing, the thread does it, writers carry on."""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert

from authsvc.db.checkpoints import WalCheckpointer, checkpoint_once
from authsvc.db.engine import create_db_engine, write_engine
from authsvc.db.models import customers_table
from authsvc.db.types import utcnow


@pytest.fixture
def sqlite_engine(tmp_path: Path, sqlite_template: Path) -> Iterator[Engine]:
    path = tmp_path / "authsvc.db"
    shutil.copy(sqlite_template, path)
    engine = create_db_engine(f"sqlite:///{path}", background_checkpoints=True)
    yield engine
    engine.dispose()


def write_customers(engine: Engine, count: int) -> None:
    """`count` commits of one row each: the log grows by two or three pages per commit."""
    for _ in range(count):
        with write_engine(engine).begin() as connection:
            connection.execute(
                insert(customers_table),
                {"id": uuid.uuid4(), "name": "x" * 200, "created_at": utcnow()},
            )


def test_commits__leave_checkpoints_to_the_background(sqlite_engine: Engine) -> None:
    write_customers(sqlite_engine, 600)  # past SQLite's default autocheckpoint (1000 pages)

    log_frames, copied = checkpoint_once(sqlite_engine)

    assert log_frames > 1000  # no commit checkpointed (the default would have restarted the log)
    assert copied == log_frames  # a passive checkpoint with no reader copies everything
    write_customers(sqlite_engine, 1)
    assert checkpoint_once(sqlite_engine)[0] < 10  # the next writer restarted the log


def test_checkpointer__copies_the_log_back_between_writes(sqlite_engine: Engine) -> None:
    checkpointer = WalCheckpointer(sqlite_engine, interval_seconds=0.005).start()
    try:
        write_customers(sqlite_engine, 600)  # >1000 pages in the log (see above)
        time.sleep(0.2)  # writers pause; the thread copies the whole log back meanwhile
        write_customers(sqlite_engine, 1)  # ...so this writer restarts the log
        log_frames, _copied = checkpoint_once(sqlite_engine)
    finally:
        checkpointer.stop()
    assert log_frames < 10


def test_checkpointer__no_thread_for_postgresql() -> None:
    engine = create_db_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    checkpointer = WalCheckpointer(engine).start()
    assert checkpointer._thread is None
    checkpointer.stop()
