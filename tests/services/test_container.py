"""Services' one write path: units of work run on database threads, never on the event loop,
and the request deadline bounds every answer."""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import Connection, Engine, func, insert, select

from authsvc.db.engine import create_db_engine
from authsvc.db.models import customers_table
from authsvc.db.runner import Transactions
from authsvc.db.types import utcnow
from authsvc.errors import ServiceUnavailable
from authsvc.services.container import database_runners


@pytest.fixture
def sqlite_engine(tmp_path: Path, sqlite_template: Path) -> Iterator[Engine]:
    path = tmp_path / "authsvc.db"
    shutil.copy(sqlite_template, path)
    engine = create_db_engine(f"sqlite:///{path}", timeout_seconds=5)
    yield engine
    engine.dispose()


def runners(engine: Engine, timeout: float = 5.0) -> tuple[Transactions, Transactions]:
    return database_runners(engine, timeout_seconds=timeout)


def add_customer(connection: Connection, name: str) -> str:
    connection.execute(
        insert(customers_table), {"id": uuid.uuid4(), "name": name, "created_at": utcnow()}
    )
    return threading.current_thread().name


def customer_names(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.scalars(select(customers_table.c.name)))


def test_write__runs_once_on_the_writer_thread_and_commits(sqlite_engine: Engine) -> None:
    writes, _reads = runners(sqlite_engine)

    async def main() -> tuple[str, str]:
        return await writes.run(add_customer, "acme"), threading.current_thread().name

    ran_on, loop_thread = anyio.run(main)
    assert ran_on.startswith("authsvc-writer")
    assert ran_on != loop_thread
    assert customer_names(sqlite_engine) == ["acme"]


def test_read__runs_on_a_reader_thread(sqlite_engine: Engine) -> None:
    _writes, reads = runners(sqlite_engine)

    def count(connection: Connection) -> tuple[int, str]:
        total = connection.scalar(select(func.count()).select_from(customers_table))
        return int(total or 0), threading.current_thread().name

    total, ran_on = anyio.run(lambda: reads.run(count))
    assert (total, ran_on.split("-")[:2]) == (0, ["authsvc", "reader"])


def test_sqlite_writes__one_thread__committed_in_arrival_order(sqlite_engine: Engine) -> None:
    writes, _reads = runners(sqlite_engine)
    assert writes.threads.count == 1

    async def main() -> set[str]:
        names: set[str] = set()

        async def one(n: int) -> None:
            names.add(await writes.run(add_customer, f"c{n:02d}"))

        async with anyio.create_task_group() as group:
            for n in range(20):
                group.start_soon(one, n)
                await anyio.sleep(0)  # each submitted before the next
        return names

    threads = anyio.run(main)
    assert len(threads) == 1
    with sqlite_engine.connect() as connection:
        rows = connection.execute(
            select(customers_table.c.name).order_by(customers_table.c.created_at)
        )
        assert [name for (name,) in rows] == [f"c{n:02d}" for n in range(20)]


def test_waiting_past_the_deadline__documented_500_in_time_and_nothing_commits(
    sqlite_engine: Engine,
) -> None:
    writes, _reads = runners(sqlite_engine, timeout=0.2)
    release = threading.Event()
    ran: list[str] = []

    def stuck(connection: Connection) -> None:
        add_customer(connection, "stuck")
        release.wait(5)  # e.g. a driver call that does not return

    def queued(connection: Connection) -> None:
        ran.append("queued")
        add_customer(connection, "queued")

    async def main() -> list[type[BaseException]]:
        outcomes: list[type[BaseException]] = []

        async def call(work: Any) -> None:
            try:
                await writes.run(work)
            except ServiceUnavailable as exc:
                outcomes.append(type(exc))

        async with anyio.create_task_group() as group:
            group.start_soon(call, stuck)
            await anyio.sleep(0.01)
            group.start_soon(call, queued)
        return outcomes

    started = time.monotonic()
    outcomes = anyio.run(main)
    answered = time.monotonic() - started
    release.set()
    writes.threads.call(lambda: None)  # the writer is done with the stuck unit
    assert outcomes == [ServiceUnavailable, ServiceUnavailable]
    assert answered < 1.0, answered  # at the deadline, not when the work ended
    assert ran == []  # its deadline passed in the queue: never started
    assert customer_names(sqlite_engine) == []  # the stuck unit finished late: rolled back


def test_postgresql_writes__several_threads(tmp_path: Path) -> None:
    engine = create_db_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    writes, reads = runners(engine)
    assert writes.threads.count > 1
    pool = engine.pool
    assert writes.threads.count + reads.threads.count <= pool.size() + pool._max_overflow  # type: ignore[attr-defined]
