"""Group commit for SQLite's one writer thread: the units of work waiting in its queue share one
transaction, and so one sync of the log, each inside a savepoint of its own.

With `synchronous=FULL` every COMMIT waits for the disk (authsvc.db.engine). One writer thread
committing one request at a time then spends most of its time waiting for syncs; taking every
unit already queued into the same `BEGIN IMMEDIATE ... COMMIT` pays one sync for all of them
(bench/results/ has the figures). Each unit still stands alone:

* a unit runs in a SAVEPOINT: if it raises, its own writes are rolled back and it alone gets the
  exception; a transient conflict is retried in a fresh savepoint;
* no unit gets its result before the COMMIT that makes it durable has returned;
* a unit whose deadline has passed before it starts is never run, and if any finished unit's
  deadline is too close for the COMMIT (`COMMIT_MARGIN_SECONDS`) or past, the whole transaction is
  rolled back and done again without it, so an answer given up as a 500 never takes effect.

If BEGIN or COMMIT itself fails (another process holding the lock past the busy timeout), the
batch is retried as `run_in_transaction` retries a single unit, then every unit gets the error.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

from authsvc.db import deadlines
from authsvc.db.threads import WorkerThreads
from authsvc.errors import ServiceUnavailable

logger = logging.getLogger("authsvc.transactions")
T = TypeVar("T")
MAX_BATCH = 64  # bounds how long one transaction holds the lock, and the work redone on a redo


@dataclass(slots=True)
class _Unit:
    future: Future[Any]
    work: Callable[[Connection], Any]
    deadline: float | None
    result: Any = None


class GroupCommit:
    """Queues units of work for `threads` (one thread) and commits those waiting together."""

    def __init__(
        self,
        transactions: Engine,
        threads: WorkerThreads,
        *,
        attempts: int,
        is_transient: Callable[[BaseException], bool],
    ) -> None:
        self._transactions = transactions
        self._threads = threads
        self._attempts = attempts
        self._is_transient = is_transient
        self._lock = threading.Lock()
        self._waiting: deque[_Unit] = deque()

    def submit(self, work: Callable[[Connection], T], deadline: float | None) -> Future[T]:
        """Queue `work`; cancelling its future before the writer takes it means it never runs."""
        future: Future[T] = Future()
        with self._lock:
            self._waiting.append(_Unit(future, work, deadline))
        # One drain per unit keeps FIFO order with other jobs on the thread; a drain that finds
        # nothing left (an earlier one took its unit) returns at once.
        self._threads.submit(self._drain)
        return future

    def _drain(self) -> None:
        with self._lock:
            taken = [self._waiting.popleft() for _ in range(min(MAX_BATCH, len(self._waiting)))]
        units = [unit for unit in taken if unit.future.set_running_or_notify_cancel()]
        if units:
            self._commit(units)

    def _commit(self, units: list[_Unit]) -> None:
        attempt = 1
        while units:
            try:
                done = self._run_batch(units)
            except _Redo as redo:
                for unit in redo.late:
                    unit.future.set_exception(ServiceUnavailable())
                units = [unit for unit in units if not unit.future.done()]
                continue
            except Exception as exc:  # BEGIN or COMMIT failed: the batch as a whole
                if attempt >= self._attempts or not self._is_transient(exc):
                    _fail(units, exc)
                    return
                logger.info("transient conflict (%s); retrying the batch", type(exc).__name__)
                time.sleep(random.uniform(0.005, 0.02) * attempt)  # noqa: S311 - jitter, not crypto
                attempt += 1
                units = [unit for unit in units if not unit.future.done()]
                continue
            for unit in done:
                unit.future.set_result(unit.result)
            return

    def _run_batch(self, units: list[_Unit]) -> list[_Unit]:
        """One transaction over `units`; the ones that succeeded, committed."""
        succeeded: list[_Unit] = []
        with self._transactions.begin() as connection:
            for unit in units:
                if unit.future.done():
                    continue  # failed on its own in an earlier pass of this batch
                if deadlines.past(unit.deadline):
                    unit.future.set_exception(ServiceUnavailable())
                    continue
                if self._run_unit(connection, unit):
                    succeeded.append(unit)
            late = [unit for unit in succeeded if deadlines.too_late_to_commit(unit.deadline)]
            if late:
                raise _Redo(late)  # rolls the whole transaction back: see the module docstring
        return succeeded

    def _run_unit(self, connection: Connection, unit: _Unit) -> bool:
        for attempt in range(1, self._attempts + 1):
            try:
                with connection.begin_nested():
                    unit.result = unit.work(connection)
                return True
            except Exception as exc:
                if attempt < self._attempts and self._is_transient(exc):
                    continue  # the savepoint is rolled back; we hold the lock, so try again now
                unit.future.set_exception(exc)
                return False
        raise AssertionError("unreachable")


class _Redo(Exception):
    def __init__(self, late: list[_Unit]) -> None:
        super().__init__(f"{len(late)} units past their deadline")
        self.late = late


def _fail(units: list[_Unit], exc: BaseException) -> None:
    for unit in units:
        if not unit.future.done():
            unit.future.set_exception(exc)
