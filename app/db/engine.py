"""Engines and sessions for SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import logging
import os
from contextlib import suppress
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

logger = logging.getLogger(__name__)
# Execution option: begin the transaction with `BEGIN IMMEDIATE` on SQLite, taking the write lock up
# front. Read-then-write transactions otherwise deadlock into "database is locked" under concurrency.
SQLITE_IMMEDIATE = "authsvc_sqlite_immediate"
# With background checkpoints (app.db.checkpoints) a commit checkpoints only past this many log
# pages (~40 MB at 4 KiB): a backstop, not the normal path. SQLite's default is 1000.
BACKGROUND_CHECKPOINT_PAGES = 10_000
# FULL: in WAL mode every commit syncs the log, so a transaction answered 200 (an invitation, its
# mail and its audit event) survives a power loss; NORMAL may lose the last commits. The cost is
# measured in bench/results/ and the choice explained in docs/reliability.md.
SQLITE_SYNCHRONOUS = "FULL"


def create_db_engine(
    url: str,
    *,
    timeout_seconds: float = 5.0,
    pool_size: int = 10,
    background_checkpoints: bool = False,
) -> Engine:
    """An engine whose every wait (connect, lock, statement) is bounded by `timeout_seconds`.

    `background_checkpoints=True` (SQLite): commits leave WAL checkpoints to a `WalCheckpointer`.
    """
    if url.startswith("sqlite"):
        restrict_sqlite_files(url)
        engine = create_engine(
            url,
            connect_args={"timeout": timeout_seconds, "check_same_thread": False},
            pool_size=pool_size,
            max_overflow=pool_size * 2,
            pool_timeout=timeout_seconds,
            hide_parameters=True,  # errors and logs must never echo e-mail addresses or hashes
        )
        _configure_sqlite(
            engine,
            timeout_seconds,
            autocheckpoint_pages=BACKGROUND_CHECKPOINT_PAGES if background_checkpoints else None,
        )
        return engine
    millis = int(timeout_seconds * 1000)
    return create_engine(
        url,
        pool_pre_ping=True,  # a restarted database is picked up without restarting the service
        hide_parameters=True,
        pool_size=pool_size,
        max_overflow=pool_size * 2,
        pool_timeout=timeout_seconds,
        connect_args={
            "connect_timeout": max(1, int(timeout_seconds)),
            "options": f"-c statement_timeout={millis} -c lock_timeout={millis}",
        },
    )


def restrict_sqlite_files(url: str) -> None:
    """The database file, and its -wal and -shm, readable by the owner alone (0600).

    SQLite creates its -wal and -shm files with the mode of the database file, so creating that
    file 0600 before SQLite does (it would use 0644 under the usual umask) covers all three; files
    left by an older version are narrowed. The data directory is 0700 too (authsvc.cli).
    """
    parsed = make_url(url)
    path = parsed.database
    if parsed.get_backend_name() != "sqlite" or not path or path == ":memory:":
        return
    if parsed.query.get("uri") or path.startswith("file:"):
        return  # a URI names the file its own way: left to its author
    # No directory yet, say: opening it fails later, with SQLite's own message.
    with suppress(OSError):
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT, 0o600))
    for name in (path, f"{path}-wal", f"{path}-shm", f"{path}-journal"):
        try:
            if os.stat(name).st_mode & 0o077:
                os.chmod(name, 0o600)
        except FileNotFoundError:
            continue
        except PermissionError:
            logger.warning("%s is readable by other users and not ours to chmod 600", name)


def _configure_sqlite(
    engine: Engine, timeout_seconds: float, *, autocheckpoint_pages: int | None
) -> None:
    busy_timeout = f"PRAGMA busy_timeout={int(timeout_seconds * 1000)}"

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see SQLITE_IMMEDIATE).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
        cursor.execute(busy_timeout)
        if autocheckpoint_pages is not None:
            cursor.execute(f"PRAGMA wal_autocheckpoint={int(autocheckpoint_pages)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(SQLITE_IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def write_engine(engine: Engine) -> Engine:
    """The same engine, whose transactions take SQLite's write lock up front (`BEGIN IMMEDIATE`)."""
    return engine.execution_options(**{SQLITE_IMMEDIATE: True})


def make_session_factory(engine: Engine, *, write: bool = False) -> sessionmaker[Session]:
    """Sessions that never expire loaded objects on commit; `write=True` takes SQLite's lock early."""
    return sessionmaker(bind=write_engine(engine) if write else engine, expire_on_commit=False)
