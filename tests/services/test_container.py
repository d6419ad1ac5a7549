"""Services.write_within_deadline: SQLite writes run on the event loop unless they would wait."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any, cast

import anyio
import pytest

from app.db.engine import WriterBusy
from app.errors import ServiceUnavailable
from app.services.container import Services


def services(*, inline: bool, timeout: float = 5.0) -> Services:
    unused = cast(Any, None)  # the method under test touches no service
    return Services(
        invites=unused,
        health=unused,
        tokens=unused,
        request_timeout_seconds=timeout,
        writes_inline_first=inline,
    )


def test_free_lock__runs_once_on_the_event_loop_thread() -> None:
    calls: list[tuple[bool, int]] = []

    def work(_deadline: float, nowait: bool) -> str:
        calls.append((nowait, threading.get_ident()))
        return "done"

    async def main() -> tuple[str, int]:
        return await services(inline=True).write_within_deadline(work), threading.get_ident()

    result, loop_thread = anyio.run(main)
    assert (result, calls) == ("done", [(True, loop_thread)])


def test_busy_lock__retried_in_a_thread_that_may_wait() -> None:
    calls: list[tuple[bool, int]] = []

    def work(_deadline: float, nowait: bool) -> str:
        calls.append((nowait, threading.get_ident()))
        if nowait:
            raise WriterBusy()
        return "done"

    async def main() -> tuple[str, int]:
        return await services(inline=True).write_within_deadline(work), threading.get_ident()

    result, loop_thread = anyio.run(main)
    assert result == "done"
    assert [nowait for nowait, _ in calls] == [True, False]
    assert calls[0][1] == loop_thread != calls[1][1]


def test_postgresql__always_in_a_thread() -> None:
    threads: list[int] = []

    def work(_deadline: float, nowait: bool) -> None:
        assert not nowait
        threads.append(threading.get_ident())

    async def main() -> int:
        await services(inline=False).write_within_deadline(work)
        return threading.get_ident()

    assert threads != [anyio.run(main)]


def test_waiting_past_the_deadline__documented_500_in_time() -> None:
    def work(_deadline: float, nowait: bool) -> None:
        if nowait:
            raise WriterBusy()
        time.sleep(1)  # stuck waiting for the lock

    async def main() -> None:
        await services(inline=True, timeout=0.1).write_within_deadline(work)

    started = time.monotonic()
    with pytest.raises(ServiceUnavailable):
        anyio.run(main)
    assert time.monotonic() - started < 0.9


def test_inline_write__lets_ready_work_run_first() -> None:
    order: list[str] = []

    def work(_deadline: float, _nowait: bool) -> None:
        order.append("write")

    async def main() -> None:
        asyncio.get_running_loop().call_soon(order.append, "other connection")
        await services(inline=True).write_within_deadline(work)

    anyio.run(main)
    assert order == ["other connection", "write"]


def test_queued_writes__served_in_arrival_order_past_a_busy_lock() -> None:
    order: list[int] = []
    busy = threading.Event()
    busy.set()

    def work(number: int) -> Callable[[float, bool], None]:
        def write(_deadline: float, nowait: bool) -> None:
            if nowait and busy.is_set():
                raise WriterBusy()  # the first finds the lock taken and waits in a thread
            if not nowait and number == 0:
                time.sleep(
                    0.05
                )  # the first waits for the lock a while; the others arrive meanwhile
                busy.clear()
            order.append(number)

        return write

    async def main() -> None:
        shared = services(inline=True)
        async with anyio.create_task_group() as group:
            for number in range(5):
                group.start_soon(shared.write_within_deadline, work(number))
                await anyio.sleep(0.001)

    anyio.run(main)
    assert order == [0, 1, 2, 3, 4]
