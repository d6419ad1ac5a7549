"""Units of work: each one transaction, retried on the conflicts concurrency makes normal, run on
database threads under the request deadline, never on the event loop.

A unit of work is a plain function `work(connection, *args, **kwargs)` that does one use case's
reads and writes on a SQLAlchemy `Connection`; `Transactions.run` (async, for request handlers via
`authsvc.services.container.Services`) and `Transactions.call` (for threads) run it. A refusal
that must be recorded, such as an audited 403, is returned by the unit rather than raised, so the
transaction commits; the caller raises it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager
from typing import Concatenate, ParamSpec, Protocol, TypeVar

import anyio
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from authsvc.db import deadlines
from authsvc.db.engine import write_engine
from authsvc.db.group_commit import GroupCommit
from authsvc.db.threads import WorkerThreads
from authsvc.errors import ServiceUnavailable

logger = logging.getLogger("authsvc.transactions")
T = TypeVar("T")
P = ParamSpec("P")
Unit = TypeVar("Unit", covariant=True)


class Transactional(Protocol[Unit]):
    """Anything whose `begin()` opens a transaction: a sessionmaker (ORM) or an Engine (Core)."""

    def begin(self) -> AbstractContextManager[Unit]: ...


# PostgreSQL: serialization_failure, deadlock_detected, lock_not_available.
_RETRYABLE_SQLSTATES = {"40001", "40P01", "55P03"}


def is_transient(exc: BaseException) -> bool:
    """A conflict another attempt can win: a lost race, not a broken database."""
    if isinstance(exc, IntegrityError):
        return True  # e.g. the one-pending-invitation index caught a concurrent insert
    if isinstance(exc, DBAPIError):
        sqlstate = getattr(exc.orig, "sqlstate", None)
        if sqlstate in _RETRYABLE_SQLSTATES:
            return True
        return isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)
    return False


def run_in_transaction(
    transactions: Transactional[Unit],
    work: Callable[[Unit], T],
    *,
    attempts: int = 4,
    deadline: float | None = None,
) -> T:
    """Commit `work(session or connection)` atomically; retry transient conflicts after a short,
    jittered pause.

    `deadline` (a `time.monotonic()` value) is the moment the client is told 500: work that
    finishes later, or so close to it that its COMMIT could end later
    (`deadlines.COMMIT_MARGIN_SECONDS`) is rolled back, so a request answered as failed never
    takes effect.
    """
    for attempt in range(1, attempts + 1):
        deadlines.check(deadline)
        try:
            with transactions.begin() as unit:
                result = work(unit)
                if deadlines.too_late_to_commit(deadline):
                    raise ServiceUnavailable()  # raised inside: the work is rolled back
                return result
        except DBAPIError as exc:
            if attempt == attempts or not is_transient(exc):
                raise
            logger.info("transient conflict (%s); retrying", type(exc).__name__)
            time.sleep(random.uniform(0.005, 0.02) * attempt)  # noqa: S311 - jitter, not crypto
    raise AssertionError("unreachable")


class Transactions:
    """Runs units of work on `threads`, each in one transaction of `engine`, under a deadline.

    `write=True` begins each transaction by taking SQLite's write lock (`BEGIN IMMEDIATE`), so a
    read-then-write unit never deadlocks into "database is locked"; on PostgreSQL it changes
    nothing (row locks are the unit's business, `SELECT ... FOR UPDATE`). `group_commit=True`
    (SQLite's one writer thread) lets the units waiting in the queue share a transaction, each in
    a savepoint of its own (authsvc.db.group_commit).
    """

    def __init__(
        self,
        engine: Engine,
        threads: WorkerThreads,
        *,
        timeout_seconds: float,
        write: bool,
        group_commit: bool = False,
        attempts: int = 4,
    ) -> None:
        self.engine = engine
        self.threads = threads
        self.timeout_seconds = timeout_seconds
        self._transactions = write_engine(engine) if write else engine
        self._attempts = attempts
        self._group = (
            GroupCommit(self._transactions, threads, attempts=attempts, is_transient=is_transient)
            if group_commit
            else None
        )

    async def run(
        self, work: Callable[Concatenate[Connection, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`work(connection, ...)` committed on a database thread; the documented 500 past the
        deadline.

        The deadline (`timeout_seconds` from now) covers the wait in the queue too. Work that
        finishes after it, or so close to it that its COMMIT could end later
        (`deadlines.COMMIT_MARGIN_SECONDS`), is rolled back, so a request answered as failed never
        takes effect. A thread stuck in the driver (a PostgreSQL server that stopped answering
        blocks a read forever) cannot be interrupted: it is abandoned, and ends when its socket
        does.
        """
        deadline = time.monotonic() + self.timeout_seconds
        future = self._submit(lambda connection: work(connection, *args, **kwargs), deadline)
        try:
            with anyio.fail_after(max(0.0, deadline - time.monotonic())):
                # Cancelling the wrapper cancels a job that has not started: it never runs.
                return await asyncio.wrap_future(future)
        except TimeoutError:
            raise ServiceUnavailable() from None

    def call(
        self, work: Callable[Concatenate[Connection, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`work(connection, ...)` committed on a database thread, for a caller that is a thread.

        No request deadline: background work (the outbox) waits its turn; each statement is still
        bounded by the engine's timeouts.
        """
        return self._submit(lambda connection: work(connection, *args, **kwargs), None).result()

    def _submit(self, unit: Callable[[Connection], T], deadline: float | None) -> Future[T]:
        if self._group is not None:
            return self._group.submit(unit, deadline)
        return self.threads.submit(
            lambda: run_in_transaction(
                self._transactions, unit, attempts=self._attempts, deadline=deadline
            )
        )
