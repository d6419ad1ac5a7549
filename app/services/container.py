"""The services one app instance uses, built by the factory and handed to handlers."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import anyio
import anyio.to_thread

from authsvc.db.engine import WriterBusy
from authsvc.errors import ServiceUnavailable
from authsvc.security.principal import Principal
from authsvc.security.tokens import TokenVerifier
from authsvc.services.health import HealthService
from authsvc.services.invites import InviteService

T = TypeVar("T")


@dataclass(frozen=True)
class Services:
    invites: InviteService
    health: HealthService
    tokens: TokenVerifier
    request_timeout_seconds: float = 10.0
    # SQLite: try writes on the event loop's thread first (see `write_within_deadline`).
    writes_inline_first: bool = False

    def authenticate(self, token: str) -> Principal:
        """The bearer check Connexion runs before any handler; raises Unauthorized."""
        return self.tokens.verify(token)

    async def within_deadline(self, work: Callable[[float], T]) -> T:
        """Run blocking database work in a thread; past the deadline answer the documented 500.

        `work` gets the deadline (a `time.monotonic()` value) so it can refuse to commit after it.
        """
        return await self._in_thread(work, time.monotonic() + self.request_timeout_seconds)

    async def write_within_deadline(self, work: Callable[[float, bool], T]) -> T:
        """`within_deadline` for a write transaction, `work(deadline, nowait)`.

        On SQLite the transaction first runs right here, on the event loop's thread, with
        `nowait=True`: it either gets the write lock at once (nothing in this process or another
        holds it) or raises `WriterBusy` before doing anything, and then goes to a thread, where it
        may wait under the deadline. Once it holds the lock the work is CPU and local-file I/O
        only, well under a millisecond; the hop to a thread and back cost more than that (measured
        with wrk at 16 connections: 590 -> 750 req/s, p99 60-80 -> 45 ms, 30% less CPU per
        request). PostgreSQL work always waits on the network, so it always goes to a thread.

        While inline work runs the loop reads no other connection. Under uvloop that left
        connections opened against a saturated server waiting over 2 s for their first answer
        (p99 2.1 s at 64 connections); the stdlib asyncio loop serves them (p99 0.16 s), which is
        why `authsvc serve` runs on it (app/cli.py). A FIFO write queue with a yield before each
        write also fixed it on uvloop, but cost 20-35% of the throughput with in-process mail
        delivery, so it was measured and left out.
        """
        deadline = time.monotonic() + self.request_timeout_seconds
        if self.writes_inline_first:
            try:
                return work(deadline, True)
            except WriterBusy:
                pass  # the lock is taken: wait for it in a thread, bounded by the deadline
        return await self._in_thread(lambda late: work(late, False), deadline)

    async def _in_thread(self, work: Callable[[float], T], deadline: float) -> T:
        """Timeouts inside the driver do not cover every failure: a PostgreSQL server that stops
        answering on an open connection (frozen, or a silent network partition) blocks a read
        forever. The thread cannot be interrupted, so it is abandoned (it ends when the socket
        does, holding one pooled connection meanwhile) while the client gets its answer on time.
        """
        try:
            with anyio.fail_after(max(0.0, deadline - time.monotonic())):
                return await anyio.to_thread.run_sync(work, deadline, abandon_on_cancel=True)
        except TimeoutError:
            raise ServiceUnavailable() from None
