"""WorkerThreads: database work in arrival order, on daemon threads that come and go."""

from __future__ import annotations

import threading
import time
from concurrent.futures import CancelledError, Future

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

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


def test_after_a_burst_and_an_idle_pause__the_next_job_still_runs() -> None:
    """The outage an operator saw: a burst queues jobs beyond the threads, they all finish, the
    threads retire while idle, and the next job must still find a thread (it used to wait
    forever: the idle count had grown past the threads that existed)."""
    threads = WorkerThreads("burst-test", 2, idle_seconds=0.02)
    gate = threading.Event()
    burst = [threads.submit(gate.wait) for _ in range(10)]
    gate.set()
    for future in burst:
        future.result(5)
    deadline = time.monotonic() + 5
    while threads.live_threads and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threads.live_threads == 0
    assert threads.submit(lambda: "answered").result(5) == "answered"


class PoolMachine(RuleBasedStateMachine):
    """Submit, complete and idle pauses in any order: every job runs, threads never exceed count."""

    instances = 0

    def __init__(self) -> None:
        super().__init__()
        PoolMachine.instances += 1
        self.prefix = f"pool-machine-{PoolMachine.instances}"
        self.count = 2
        self.pool = WorkerThreads(self.prefix, self.count, idle_seconds=IDLE)
        self.gates: list[threading.Event] = []
        self.futures: list[Future[int]] = []

    @rule()
    def submit(self) -> None:
        gate = threading.Event()
        n = len(self.futures)
        self.gates.append(gate)
        self.futures.append(self.pool.submit(lambda: gate.wait(30) and n))

    @rule(data=st.data())
    def complete_one(self, data: st.DataObject) -> None:
        waiting = [gate for gate in self.gates if not gate.is_set()]
        if waiting:
            data.draw(st.sampled_from(waiting)).set()

    @rule()
    def complete_all(self) -> None:
        for gate in self.gates:
            gate.set()

    @rule()
    def idle_pause(self) -> None:
        time.sleep(IDLE * 4)  # long enough for an idle thread to retire

    @invariant()
    def never_more_threads_than_count(self) -> None:
        assert self.pool.live_threads <= self.count
        alive = sum(t.name.startswith(self.prefix + "-") for t in threading.enumerate())
        assert alive <= self.count

    def teardown(self) -> None:
        for gate in self.gates:
            gate.set()
        for n, future in enumerate(self.futures):
            assert future.result(10) == n, f"job {n} never ran"
        assert self.pool.submit(lambda: -1).result(10) == -1


IDLE = 0.02
PoolMachine.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_pool_machine = PoolMachine.TestCase
