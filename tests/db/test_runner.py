"""run_in_transaction: atomic, retried on lost races, and never committing after the deadline."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from authsvc.db.deadlines import COMMIT_MARGIN_SECONDS
from authsvc.db.engine import make_session_factory
from authsvc.db.models import Customer
from authsvc.db.runner import run_in_transaction
from authsvc.errors import ServiceUnavailable


def customers(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count(Customer.id))) or 0)


def test_run_in_transaction__work_finishing_after_the_deadline_is_rolled_back(
    engine: Engine,
) -> None:
    def slow(session: Session) -> None:
        session.add(Customer(name="late"))
        session.flush()
        time.sleep(0.2)

    with pytest.raises(ServiceUnavailable):
        run_in_transaction(
            make_session_factory(engine, write=True), slow, deadline=time.monotonic() + 0.05
        )
    assert customers(engine) == 0


def test_run_in_transaction__past_deadline_does_not_start(engine: Engine) -> None:
    calls: list[int] = []
    with pytest.raises(ServiceUnavailable):
        run_in_transaction(
            make_session_factory(engine, write=True),
            lambda s: calls.append(1),
            deadline=time.monotonic() - 1,
        )
    assert calls == []


def test_run_in_transaction__retries_a_transient_conflict_then_commits(engine: Engine) -> None:
    attempts: list[int] = []

    def flaky(session: Session) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise OperationalError("BEGIN", {}, Exception("database is locked"))
        session.add(Customer(name="second try"))

    run_in_transaction(make_session_factory(engine, write=True), flaky)
    assert (len(attempts), customers(engine)) == (2, 1)


def test_run_in_transaction__work_ending_too_close_to_the_deadline_to_commit__rolled_back(
    engine: Engine,
) -> None:
    def nearly_late(session: Session) -> None:
        session.add(Customer(name="nearly late"))
        session.flush()
        time.sleep(0.2 - COMMIT_MARGIN_SECONDS / 2)  # ends inside the margin kept for COMMIT

    with pytest.raises(ServiceUnavailable):
        run_in_transaction(
            make_session_factory(engine, write=True), nearly_late, deadline=time.monotonic() + 0.2
        )
    assert customers(engine) == 0
