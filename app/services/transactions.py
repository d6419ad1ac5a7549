"""Run a unit of work in one transaction, retrying the conflicts that concurrency makes normal."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

logger = logging.getLogger("authsvc.transactions")
T = TypeVar("T")

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
    sessions: sessionmaker[Session], work: Callable[[Session], T], *, attempts: int = 4
) -> T:
    """Commit `work(session)` atomically; retry transient conflicts with a short jittered pause."""
    for attempt in range(1, attempts + 1):
        try:
            with sessions.begin() as session:
                return work(session)
        except DBAPIError as exc:
            if attempt == attempts or not is_transient(exc):
                raise
            logger.info("transient conflict (%s); retrying", type(exc).__name__)
            time.sleep(random.uniform(0.005, 0.02) * attempt)  # noqa: S311 - jitter, not crypto
    raise AssertionError("unreachable")
