"""Threads that run database work in arrival order, so the event loop never does.

`WorkerThreads(count=1)` is SQLite's writer: one thread owns the write lock in this process and
takes transactions first come first served from a FIFO queue (as Datasette's `execute_write_fn`
does). SQLite serialises writers anyway; queueing them here, not in SQLite's busy handler (which
sleeps in steps of up to 100 ms), hands the lock on at once. With `count > 1` (reads, and
PostgreSQL writes) the same queue feeds several threads.

Threads are daemons started on demand and ended after `idle_seconds` without work: a thread
stuck on a database that stopped answering must never keep the process from exiting, and an app
built per test must not leave threads behind (so there is nothing to close at shutdown).

Why a queued job is never lost: the queue, the thread count and the waiting count change only
under one lock (a `Condition`). A thread ends only while holding it *and* seeing the queue empty,
and every thread looks at the queue under it before it waits and again after every wake-up,
timed out or notified. So while the queue holds a job, no thread can end, and the job is taken
by a running thread when it finishes its job, by a waiting thread (woken by `submit`, or at worst
by its own idle timeout), or by the thread `submit` starts. No count is kept that could disagree
with what the threads are doing: `_waiting` is the number of threads inside `wait()` right now.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")
_Job = tuple[Future[Any], Callable[[], Any]]


class WorkerThreads:
    """Up to `count` daemon threads taking jobs from one FIFO queue."""

    def __init__(self, name: str, count: int, *, idle_seconds: float = 10.0) -> None:
        if count < 1:
            raise ValueError("count must be at least 1")
        self.name = name
        self.count = count
        self._idle_seconds = idle_seconds
        self._changed = threading.Condition(threading.Lock())
        self._jobs: deque[_Job] = deque()
        self._threads = 0  # threads started and not yet ended
        self._waiting = 0  # of those, the ones inside `wait()` now
        self._started = 0  # for thread names only

    @property
    def live_threads(self) -> int:
        """Threads started and not yet ended (never more than `count`)."""
        with self._changed:
            return self._threads

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        """Queue `fn`; its future is cancelled (and `fn` never runs) if cancelled before it starts."""
        future: Future[T] = Future()
        with self._changed:
            self._jobs.append((future, fn))
            if self._waiting:
                self._changed.notify()
            # More jobs queued than threads waiting for one: the busy threads will come back for
            # them, but add a thread while the pool has room, so they run in parallel.
            if len(self._jobs) > self._waiting and self._threads < self.count:
                self._threads += 1
                self._started += 1
                threading.Thread(
                    target=self._work, name=f"{self.name}-{self._started}", daemon=True
                ).start()
        return future

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on these threads and wait for it: for callers that are threads themselves."""
        return self.submit(fn).result()

    def _work(self) -> None:
        with self._changed:
            while True:
                if not self._jobs:
                    self._waiting += 1
                    try:
                        self._changed.wait(self._idle_seconds)
                    finally:
                        self._waiting -= 1
                    if not self._jobs:
                        # Timed out (or another thread took the job it was woken for), and the
                        # queue is empty under the lock: nobody can be counting on this thread.
                        self._threads -= 1
                        return
                future, fn = self._jobs.popleft()
                self._changed.release()
                try:
                    if future.set_running_or_notify_cancel():
                        try:
                            future.set_result(fn())
                        except BaseException as exc:
                            future.set_exception(exc)
                    del future, fn  # drop references before waiting again
                finally:
                    self._changed.acquire()
