"""Services.write_within_deadline: SQLite writes run on the event loop unless they would wait."""

from __future__ import annotations

import threading
import time
from typing import Any, cast

import anyio
import pytest

from authsvc.db.engine import WriterBusy
from authsvc.errors import ServiceUnavailable
from authsvc.services.container import Services


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
