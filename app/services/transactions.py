"""Run a unit of work in one transaction, retrying the conflicts that concurrency makes normal."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol, TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from authsvc.errors import ServiceUnavailable

logger = logging.getLogger("authsvc.transactions")
T = TypeVar("T")
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
    """Commit `work(session or connection)` atomically; retry transient conflicts with a short jittered pause.

    `deadline` (a `time.monotonic()` value) is the moment the client was told 500: work that
    finishes later is rolled back, so a request answered as failed never takes effect.
    """
    for attempt in range(1, attempts + 1):
        _check(deadline)
        try:
            with transactions.begin() as unit:
                result = work(unit)
                _check(deadline)  # an exception here rolls the transaction back
                return result
        except DBAPIError as exc:
            if attempt == attempts or not is_transient(exc):
                raise
            logger.info("transient conflict (%s); retrying", type(exc).__name__)
            time.sleep(random.uniform(0.005, 0.02) * attempt)  # noqa: S311 - jitter, not crypto
    raise AssertionError("unreachable")


def _check(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise ServiceUnavailable()
