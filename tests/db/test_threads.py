"""WorkerThreads: database work in arrival order, on daemon threads that come and go."""

from __future__ import annotations

import threading
import time
from concurrent.futures import CancelledError

import pytest

from authsvc.db.threads import WorkerThreads


def test_one_thread__runs_jobs_in_arrival_order() -> None:
    threads = WorkerThreads("t", 1)
    gate = threading.Event()
    order: list[int] = []
    first = threads.submit(gate.wait)
    futures = [threads.submit(lambda n=n: order.append(n)) for n in range(50)]
    gate.set()
    first.result(5)
    for future in futures:
        future.result(5)
    assert order == list(range(50))


def test_jobs_run_on_daemon_threads_never_more_than_count() -> None:
    threads = WorkerThreads("t", 3)
    seen: set[str] = set()
    lock = threading.Lock()

    def job() -> None:
        with lock:
            seen.add(threading.current_thread().name)
        assert threading.current_thread().daemon
        time.sleep(0.01)

    for future in [threads.submit(job) for _ in range(30)]:
        future.result(5)
    assert 1 <= len(seen) <= 3


def test_a_job_cancelled_before_it_starts__never_runs() -> None:
    threads = WorkerThreads("t", 1)
    gate = threading.Event()
    ran: list[int] = []
    blocker = threads.submit(gate.wait)
    queued = threads.submit(lambda: ran.append(1))
    assert queued.cancel()
    gate.set()
    blocker.result(5)
    threads.call(lambda: None)  # everything queued before this has been taken
    assert ran == []
    with pytest.raises(CancelledError):
        queued.result(0)


def test_an_exception__reaches_the_caller_and_the_thread_lives_on() -> None:
    threads = WorkerThreads("t", 1)

    def boom() -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        threads.call(boom)
    assert threads.call(lambda: 42) == 42


def test_idle_threads_end__and_new_work_starts_one_again() -> None:
    threads = WorkerThreads("idle-test", 2, idle_seconds=0.05)
    threads.call(lambda: None)

    def alive() -> int:
        return sum(t.name.startswith("idle-test-") for t in threading.enumerate())

    deadline = time.monotonic() + 5
    while alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert alive() == 0
    assert threads.call(lambda: "again") == "again"
