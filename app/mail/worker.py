"""The loop that drains the outbox: a thread in `authsvc serve`, a process in `authsvc worker`.

Each round claims up to `outbox_batch_size` due messages (see `authsvc.mail.leases`), then for each one
re-checks and extends its lease, sends it outside any transaction, and records the outcome: SENT
with the bodies scrubbed, or a failed attempt with its backoff, or FAILED after
`outbox_max_attempts`.

Delivery is at-least-once. A message goes out twice only if the SMTP server accepted it and SENT
was not committed before another worker could claim it again:
  * the worker died (or lost its database) between the server's "250 OK" and that commit; once the
    lease (`outbox_lease_seconds`) expires, another worker sends it again;
  * one single send outlasted the whole lease (keep `outbox_lease_seconds` well above
    `smtp_timeout_seconds`, and worker clocks in sync: leases are stamped with the worker's clock);
  * the connection broke after the message's final dot but before the server's reply: smtplib
    reports a failure, so the retry may be a copy (SMTP's own window, RFC 5321 section 6.1).
Each such event duplicates at most the one message that worker had in flight (the rest of its
batch is re-checked before sending, and skipped), always with the same Message-ID so receivers can
recognise the copy. Nothing is lost: a message stays PENDING until delivered or given up (FAILED),
and a worker that sent a message but could not record it records it before claiming anything new.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Protocol, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from authsvc.config import Settings
from authsvc.db.engine import create_db_engine, make_session_factory, write_engine
from authsvc.mail import leases
from authsvc.mail.transport import DeliveryError, Transport, build_transport, describe_error

logger = logging.getLogger(__name__)
T = TypeVar("T")

ERROR_BACKOFF_CAP_SECONDS = 30.0  # a database outage is retried at least this often


@dataclass(slots=True)
class DeliveryReport:
    """What one `deliver_due` round did, by outcome."""

    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    skipped: int = 0  # lease lost before sending: another worker has it


def default_owner() -> str:
    """Unique per worker instance, readable in the table: host, pid and a random suffix."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"


def safe_error_text(exc: BaseException) -> str:
    """Loggable text for any error: the driver's message without SQL or bound parameters."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return describe_error(exc.orig)
    return describe_error(exc)


class WriteRunner(Protocol):
    """Runs one write (a function doing its own transaction) and returns its result."""

    def __call__(self, write: Callable[[], T], /) -> T: ...


def _directly(write: Callable[[], T]) -> T:
    return write()


class OutboxWorker:
    """Delivers due outbox messages via `transport`; several may run against one database.

    `writes` runs each of its write transactions: inside `authsvc serve` on SQLite, the app's
    writer thread (authsvc.services.container), so the worker queues behind requests instead of
    fighting them for SQLite's lock in its busy handler; elsewhere, right here.
    """

    def __init__(
        self,
        engine: Engine,
        transport: Transport,
        settings: Settings,
        *,
        owner: str | None = None,
        writes: WriteRunner | None = None,
    ) -> None:
        self._write: WriteRunner = writes or _directly
        self._sessions = make_session_factory(engine, write=True)
        self._engine = write_engine(engine)
        self._transport = transport
        self._settings = settings
        self.owner = owner or default_owner()
        # Sent but not yet recorded as SENT (the database failed right after the send).
        self._unrecorded: set[uuid.UUID] = set()

    def deliver_due(self) -> DeliveryReport:
        """One round: claim, send, settle. Database errors propagate; SMTP errors are recorded."""
        for message_id in sorted(self._unrecorded):
            self._record_sent(message_id)
            self._unrecorded.discard(message_id)
        settings = self._settings
        # Taken before the claim: the lease is stamped inside it, and the claim may return long
        # after (a wait for SQLite's lock, a queue on the writer thread). Counting from its return
        # would think a lease fresh that another worker may already have claimed again.
        claimed_at = time.monotonic()
        claimed = self._write(
            lambda: leases.claim_due(
                self._sessions,
                owner=self.owner,
                limit=settings.outbox_batch_size,
                lease_seconds=settings.outbox_lease_seconds,
            )
        )
        report = DeliveryReport(claimed=len(claimed))
        for message in claimed:
            self._deliver(message, report, claimed_at)
        return report

    def _deliver(
        self, message: leases.ClaimedMessage, report: DeliveryReport, claimed_at: float
    ) -> None:
        settings = self._settings
        # A lease less than half spent is still ours: no worker claims a row before its lease
        # expires (hosts' clocks agreeing within half a lease). Past that, renew (and check
        # ownership) before sending: the batch is slow, and another worker may own the row by now.
        # Saves a write transaction per message.
        fresh = time.monotonic() - claimed_at < settings.outbox_lease_seconds / 2
        if not fresh and not self._write(
            lambda: leases.renew_lease(
                self._engine,
                message_id=message.id,
                owner=self.owner,
                lease_seconds=settings.outbox_lease_seconds,
            )
        ):
            report.skipped += 1
            return
        error = "message has no body left to send"
        if message.mail is not None:
            try:
                self._transport.send(message.mail)
            except DeliveryError as exc:
                error = str(exc)
            except Exception as exc:  # a transport bug must not stop the other messages
                error = safe_error_text(exc)
            else:
                self._unrecorded.add(message.id)
                self._record_sent(message.id)
                self._unrecorded.discard(message.id)
                report.sent += 1
                return
        outcome = self._write(
            lambda: leases.record_failure(
                self._sessions,
                message_id=message.id,
                owner=self.owner,
                error=error,
                max_attempts=settings.outbox_max_attempts,
                backoff_seconds=settings.outbox_backoff_seconds,
                backoff_max_seconds=settings.outbox_backoff_max_seconds,
                give_up=message.mail is None,
            )
        )
        # The row id, never the recipient or the Message-ID (which looks like an address).
        logger.warning(
            "outbox message %s: attempt %d failed (%s): %s",
            message.id,
            message.attempts + 1,
            outcome,
            error,
        )
        if outcome is leases.FailureOutcome.RETRY:
            report.retrying += 1
        elif outcome is leases.FailureOutcome.FAILED:
            report.failed += 1
        else:
            report.skipped += 1

    def _record_sent(self, message_id: uuid.UUID) -> None:
        self._write(lambda: leases.record_sent(self._engine, message_id=message_id))

    def run(self, stop: threading.Event) -> None:
        """Deliver until `stop` is set; survives database and SMTP outages by backing off."""
        settings = self._settings
        poll = settings.outbox_poll_seconds
        error_cap = max(poll, min(settings.outbox_backoff_max_seconds, ERROR_BACKOFF_CAP_SECONDS))
        logger.info("outbox worker %s delivering via %s", self.owner, self._transport.describe())
        failures = 0
        while not stop.is_set():
            try:
                report = self.deliver_due()
            except Exception as exc:  # the loop must outlive any outage
                failures += 1
                delay = min(poll * 2 ** min(failures, 16), error_cap)
                logger.error(
                    "outbox worker: round failed (%s); retrying in %.1fs",
                    safe_error_text(exc),
                    delay,
                )
                stop.wait(delay)
                continue
            if failures:
                logger.info("outbox worker: recovered after %d failed rounds", failures)
            failures = 0
            if report.claimed < settings.outbox_batch_size:
                stop.wait(poll)  # a full batch means more may be due: go again at once
        logger.info("outbox worker %s stopped", self.owner)


@dataclass(slots=True)
class BackgroundWorker:
    """A running delivery thread; `stop()` lets the message in flight finish, then joins."""

    thread: threading.Thread
    stop_event: threading.Event = field(default_factory=threading.Event)
    join_timeout: float = 30.0

    def stop(self, timeout: float | None = None) -> bool:
        """Ask the loop to finish; True once the thread has ended within `timeout`."""
        self.stop_event.set()
        self.thread.join(self.join_timeout if timeout is None else timeout)
        return not self.thread.is_alive()


def start_background_worker(
    engine: Engine,
    transport: Transport,
    settings: Settings,
    *,
    writes: WriteRunner | None = None,
) -> BackgroundWorker:
    """Start the delivery loop in a daemon thread (the embedded default of `authsvc serve`)."""
    worker = OutboxWorker(engine, transport, settings, writes=writes)
    stop_event = threading.Event()
    # Daemon: a hung SMTP server must never keep the process from exiting; an interrupted send
    # is simply retried after its lease expires.
    thread = threading.Thread(
        target=worker.run, args=(stop_event,), name="authsvc-outbox", daemon=True
    )
    handle = BackgroundWorker(
        thread=thread,
        stop_event=stop_event,
        join_timeout=settings.smtp_timeout_seconds * 3 + settings.db_timeout_seconds,
    )
    thread.start()
    return handle


def run_worker_process(settings: Settings) -> int:
    """`authsvc worker`: deliver until SIGTERM/SIGINT, finishing the message in flight."""
    engine = create_db_engine(
        settings.resolved_database_url, timeout_seconds=settings.db_timeout_seconds, pool_size=2
    )
    stop = threading.Event()
    restore = _stop_on_signals(stop)
    try:
        OutboxWorker(engine, build_transport(settings), settings).run(stop)
    finally:
        restore()
        engine.dispose()
    return 0


def _stop_on_signals(stop: threading.Event) -> Callable[[], None]:
    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # signals reach only the main thread; the caller stops us

    def handle(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():  # asked twice: stop now, even in the middle of a send
            raise KeyboardInterrupt
        logger.info("%s received: finishing the message in flight", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore
