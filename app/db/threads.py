"""Threads that run database work in arrival order, so the event loop never does.

`WorkerThreads(count=1)` is SQLite's writer: one thread owns the write lock in this process and
takes transactions first come first served from a FIFO queue (as Datasette's `execute_write_fn`
does). SQLite serialises writers anyway; queueing them here, not in SQLite's busy handler (which
sleeps in steps of up to 100 ms), hands the lock on at once. With `count > 1` (reads, and
PostgreSQL writes) the same queue feeds several threads.

Threads are daemons started on demand and ended after `idle_seconds` without work: a thread
stuck on a database that stopped answering must never keep the process from exiting, and an app
built per test must not leave threads behind (so there is nothing to close at shutdown).
"""

from __future__ import annotations

import queue
import threading
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
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._unclaimed_idle = 0  # idle threads no queued job has been promised to yet

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        """Queue `fn`; its future is cancelled (and `fn` never runs) if cancelled before it starts."""
        future: Future[T] = Future()
        with self._lock:
            self._jobs.put((future, fn))
            if self._unclaimed_idle:
                self._unclaimed_idle -= 1  # that thread will take this job
            elif self._threads < self.count:
                self._threads += 1
                threading.Thread(
                    target=self._work, name=f"{self.name}-{self._threads}", daemon=True
                ).start()
        return future

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on these threads and wait for it: for callers that are threads themselves."""
        return self.submit(fn).result()

    def _work(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=self._idle_seconds)
            except queue.Empty:
                with self._lock:
                    if self._unclaimed_idle:  # nobody counts on this thread: end it
                        self._unclaimed_idle -= 1
                        self._threads -= 1
                        return
                continue  # a job was promised to an idle thread: wait for it
            future, fn = job
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as exc:
                    future.set_exception(exc)
            del job, future, fn  # drop references before waiting again
            with self._lock:
                self._unclaimed_idle += 1
