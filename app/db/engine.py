"""Engines and sessions for SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import sqlite3
import threading
from collections import deque
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

# Execution option: begin the transaction with `BEGIN IMMEDIATE` on SQLite, taking the write lock up
# front. Read-then-write transactions otherwise deadlock into "database is locked" under concurrency.
SQLITE_IMMEDIATE = "authsvc_sqlite_immediate"
# Execution option (with SQLITE_IMMEDIATE): take the write lock only if it is free right now, else
# raise `WriterBusy` at once. For callers that must never wait, such as the event loop's thread.
SQLITE_NOWAIT = "authsvc_sqlite_nowait"
_GATE_HELD = "authsvc_writer_gate_held"
# With background checkpoints (app.db.checkpoints) a commit checkpoints only past this many log
# pages (~40 MB at 4 KiB): a backstop, not the normal path. SQLite's default is 1000.
BACKGROUND_CHECKPOINT_PAGES = 10_000


class WriterBusy(Exception):
    """The SQLite write lock is taken (in this process or another); nothing was started."""


class _WriterGate:
    """One `BEGIN IMMEDIATE` writer at a time per engine, handed over in arrival order.

    SQLite makes a blocked writer poll with sleeps that grow to 100 ms, so under concurrency the
    database lock sits free while waiters sleep (measured: 35 req/s and a 4.6 s p99 at 16
    connections). Queueing this process's writers here hands the database over at once, first
    come first served (a plain Lock lets a busy thread barge ahead and starve others: p99 over
    1 s at 64 connections). Other processes still meet SQLite's own lock and busy timeout. The
    gate is held from BEGIN until the connection goes back to the pool (after COMMIT or
    ROLLBACK); a writer that cannot have it within the timeout proceeds without it, as before.
    """

    def __init__(self, timeout_seconds: float) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._waiters: deque[threading.Lock] = deque()
        self._timeout = timeout_seconds

    def enter(self, info: dict[str, Any]) -> None:
        if not info.get(_GATE_HELD):
            info[_GATE_HELD] = self._acquire()

    def try_enter(self, info: dict[str, Any]) -> bool:
        """Take the gate if nobody holds it (then nobody waits either); never blocks."""
        if info.get(_GATE_HELD):
            return True
        with self._mutex:
            if self._held:
                return False
            self._held = True
        info[_GATE_HELD] = True
        return True

    def leave(self, info: dict[str, Any]) -> None:
        if info.pop(_GATE_HELD, False):
            self._release()

    def _acquire(self) -> bool:
        with self._mutex:
            if not self._held:
                self._held = True
                return True
            waiter = threading.Lock()
            waiter.acquire()
            self._waiters.append(waiter)
        if waiter.acquire(timeout=self._timeout):
            return True  # handed over by _release
        with self._mutex:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
                return False
        return True  # handed over just as the wait timed out: ours now

    def _release(self) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().release()  # ownership passes; _held stays True
            else:
                self._held = False


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
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(busy_timeout)
        if autocheckpoint_pages is not None:
            cursor.execute(f"PRAGMA wal_autocheckpoint={int(autocheckpoint_pages)}")
        cursor.close()

    gate = _WriterGate(timeout_seconds)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        options = connection.get_execution_options()
        if not options.get(SQLITE_IMMEDIATE, False):
            connection.exec_driver_sql("BEGIN")
        elif options.get(SQLITE_NOWAIT, False):
            _begin_without_waiting(connection, gate, busy_timeout)
        else:
            gate.enter(connection.info)
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    # Every way a connection leaves a transaction ends at one of these pool events.
    @event.listens_for(engine, "reset")
    def _on_reset(_dbapi: Any, record: Any, _state: Any) -> None:
        gate.leave(record.info)

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi: Any, record: Any) -> None:
        gate.leave(record.info)

    @event.listens_for(engine, "invalidate")
    def _on_invalidate(_dbapi: Any, record: Any, _exc: Any) -> None:
        gate.leave(record.info)


def _begin_without_waiting(connection: Any, gate: _WriterGate, busy_timeout: str) -> None:
    """BEGIN IMMEDIATE if both this process's gate and SQLite's lock are free, else `WriterBusy`."""
    if not gate.try_enter(connection.info):
        raise WriterBusy()
    driver = connection.connection.driver_connection
    driver.execute("PRAGMA busy_timeout=0")  # another process's lock: fail now, do not wait
    try:
        driver.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        gate.leave(connection.info)
        if exc.sqlite_errorcode not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            raise
        raise WriterBusy() from None
    finally:
        driver.execute(busy_timeout)  # the lock is ours or not taken: later statements may wait


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def write_engine(engine: Engine, *, nowait: bool = False) -> Engine:
    """The same engine, whose transactions take SQLite's write lock up front (`BEGIN IMMEDIATE`).

    `nowait=True`: a transaction that would have to wait for the lock raises `WriterBusy` instead.
    """
    options = {SQLITE_IMMEDIATE: True, SQLITE_NOWAIT: nowait}
    return engine.execution_options(**options)


def make_session_factory(engine: Engine, *, write: bool = False) -> sessionmaker[Session]:
    """Sessions that never expire loaded objects on commit; `write=True` takes SQLite's lock early."""
    return sessionmaker(bind=write_engine(engine) if write else engine, expire_on_commit=False)


def ping(engine: Engine) -> bool:
    """True when the database answers a trivial query."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:  # any failure means "unreachable" to a health check
        return False
