"""The loop that drains the outbox: a thread in `authsvc serve`, a process in `authsvc worker`.

Each round claims up to `outbox_batch_size` due messages in one unit of work (see
`authsvc.mail.leases`), renders each from its template with its token opened (in memory only:
authsvc.mail.outbox), then hands them to the transport in batches of its `max_batch` (the mail
folder writes a hundred files with one round of syncs; SMTP sends one message per connection):
before each batch, if the leases are more than half spent, it renews them and drops the messages
no longer its own. Each batch's outcomes (SENT with the sealed token scrubbed, a retry with its
backoff, or FAILED after `outbox_max_attempts`) are recorded in one unit of work, queued while the
next batch is sent, and the round waits for them before it claims again.

Inside `authsvc serve` on SQLite those units go through the app's group commit: they share the
requests' transactions and syncs of the log, instead of each paying a `BEGIN IMMEDIATE ... COMMIT`
of its own on the one writer thread behind the requests' queue, which is how delivery used to
starve under load (bench/results/2026-12-04-outbox.md). Elsewhere each unit is a transaction of
its own on the worker's thread.

Delivery is at-least-once. A message goes out twice only if it was delivered and SENT was not
committed before another worker could claim it again:
  * the worker died (or lost its database) between the delivery and that commit; once the lease
    (`outbox_lease_seconds`) expires, another worker sends it again;
  * one single batch outlasted the whole lease (keep `outbox_lease_seconds` well above
    `smtp_timeout_seconds`, and worker clocks in sync: leases are stamped with the worker's clock);
  * the connection broke after the message's final dot but before the server's reply: smtplib
    reports a failure, so the retry may be a copy (SMTP's own window, RFC 5321 section 6.1).
Each such event duplicates at most the batches that worker had delivered but not yet recorded (for
SMTP, one message each), always with the same Message-ID (the mail folder: the same file name, so
the copy replaces the original), so receivers can recognise the copy. Nothing is lost: a message is
recorded SENT only after the transport reports it durably delivered, it stays PENDING until then or
until given up (FAILED), and a worker that delivered messages but could not record them records
them before claiming anything new.
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
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from types import FrameType
from typing import Protocol, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from authsvc.config import Settings
from authsvc.db.engine import create_db_engine, write_engine
from authsvc.mail import leases
from authsvc.mail.outbox import NotDeliverable, render_queued
from authsvc.mail.sealing import OutboxSealer, load_outbox_sealer
from authsvc.mail.transport import (
    DeliveryError,
    OutboundMail,
    Transport,
    build_transport,
    describe_error,
)
from authsvc.metrics import MAIL_DELIVERIES

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


class UnitRunner(Protocol):
    """Commits `unit(connection)` in a transaction; its future resolves once that is durable."""

    def __call__(self, unit: Callable[[Connection], T], /) -> Future[T]: ...


def transaction_runner(engine: Engine) -> UnitRunner:
    """Each unit in a transaction of its own on the calling thread (taking SQLite's lock up front)."""
    transactions = write_engine(engine)

    def run(unit: Callable[[Connection], T]) -> Future[T]:
        future: Future[T] = Future()
        try:
            with transactions.begin() as connection:
                result = unit(connection)
        except Exception as exc:
            future.set_exception(exc)
        else:
            future.set_result(result)
        return future

    return run


@dataclass(frozen=True, slots=True)
class _Recorded:
    """What one batch's record unit committed."""

    sent: list[uuid.UUID]
    failures: list[tuple[leases.Failure, int, leases.FailureOutcome]]  # with the attempt number


class OutboxWorker:
    """Delivers due outbox messages via `transport`; several may run against one database.

    `writes` commits each of its units of work: inside `authsvc serve` on SQLite, the app's group
    commit (authsvc.services.transactions), so the worker's writes share the requests' transactions
    instead of queueing their own behind them; elsewhere (`transaction_runner`), right here.
    """

    def __init__(
        self,
        engine: Engine,
        transport: Transport,
        settings: Settings,
        *,
        owner: str | None = None,
        writes: UnitRunner | None = None,
        sealer: OutboxSealer | None = None,
    ) -> None:
        self._write: UnitRunner = writes or transaction_runner(engine)
        # The keys that open the queued tokens: the same list as every instance that enqueues.
        self._sealer = sealer or load_outbox_sealer(settings)
        self._transport = transport
        self._settings = settings
        self._policy = leases.RetryPolicy(
            max_attempts=settings.outbox_max_attempts,
            backoff_seconds=settings.outbox_backoff_seconds,
            backoff_max_seconds=settings.outbox_backoff_max_seconds,
        )
        self.owner = owner or default_owner()
        # Delivered but not yet recorded as SENT (the database failed right after the delivery).
        self._unrecorded: set[uuid.UUID] = set()

    def deliver_due(self) -> DeliveryReport:
        """One round: claim, send, settle. Database errors propagate; delivery errors are recorded."""
        if self._unrecorded:
            ids = set(self._unrecorded)
            self._write(lambda connection: leases.record_sent(connection, ids=ids)).result()
            self._unrecorded -= ids
        settings = self._settings
        # Taken before the claim: the leases are stamped inside it, and the claim may return long
        # after (a wait for SQLite's lock, a queue on the writer thread). Counting from its return
        # would think a lease fresh that another worker may already have claimed again.
        renewed_at = time.monotonic()
        claimed = self._write(
            lambda connection: leases.claim_due(
                connection,
                owner=self.owner,
                limit=settings.outbox_batch_size,
                lease_seconds=settings.outbox_lease_seconds,
            )
        ).result()
        report = DeliveryReport(claimed=len(claimed))
        recording: list[Future[_Recorded]] = []
        queue, size = claimed, max(1, self._transport.max_batch)
        while queue:
            # A lease less than half spent is still ours: no worker claims a row before its lease
            # expires (hosts' clocks agreeing within half a lease). Past that, renew the leases of
            # everything left, and send only what is still ours.
            if time.monotonic() - renewed_at >= settings.outbox_lease_seconds / 2:
                renewed_at = time.monotonic()
                ours = self._renew([message.id for message in queue])
                report.skipped += sum(1 for message in queue if message.id not in ours)
                queue = [message for message in queue if message.id in ours]
            batch, queue = queue[:size], queue[size:]
            if batch:
                recording.append(self._send(batch))
        self._settle(recording, report)
        return report

    def _renew(self, ids: list[uuid.UUID]) -> set[uuid.UUID]:
        lease_seconds = self._settings.outbox_lease_seconds
        return self._write(
            lambda connection: leases.renew_leases(
                connection, ids=ids, owner=self.owner, lease_seconds=lease_seconds
            )
        ).result()

    def _send(self, batch: Sequence[leases.ClaimedMessage]) -> Future[_Recorded]:
        """Deliver `batch` and queue the unit that records its outcomes (not waited for here)."""
        failures: list[leases.Failure] = []
        sendable: list[tuple[leases.ClaimedMessage, OutboundMail]] = []
        for message in batch:
            try:
                mail = render_queued(message.queued, settings=self._settings, sealer=self._sealer)
            except NotDeliverable as exc:
                failures.append(leases.Failure(message.id, str(exc), give_up=exc.give_up))
            else:
                sendable.append((message, mail))
        try:
            outcomes = self._transport.send_batch([mail for _m, mail in sendable])
        except Exception as exc:  # a transport bug: every message of the batch counts as failed
            outcomes = [DeliveryError(safe_error_text(exc))] * len(sendable)
        sent: list[uuid.UUID] = []
        for (message, _mail), outcome in zip(sendable, outcomes, strict=True):
            if outcome is None:
                sent.append(message.id)
            else:
                failures.append(leases.Failure(message.id, str(outcome)))
        self._unrecorded.update(sent)
        attempts = {message.id: message.attempts + 1 for message in batch}

        def record(connection: Connection) -> _Recorded:
            leases.record_sent(connection, ids=sent)
            outcomes = leases.record_failures(
                connection, failures=failures, owner=self.owner, policy=self._policy
            )
            return _Recorded(sent, [(f, attempts[f.id], outcomes[f.id]) for f in failures])

        return self._write(record)

    def _settle(self, recording: list[Future[_Recorded]], report: DeliveryReport) -> None:
        """Wait for every batch's record; count and log the outcomes; raise the first error."""
        first_error: BaseException | None = None
        for future in recording:
            try:
                recorded = future.result()
            except Exception as exc:  # the others are still waited for: none is left running
                first_error = first_error or exc
                continue
            self._unrecorded.difference_update(recorded.sent)
            report.sent += len(recorded.sent)
            MAIL_DELIVERIES.labels("sent").inc(len(recorded.sent))
            for message_id in recorded.sent:
                # The row id, never the recipient or the Message-ID.
                logger.info("outbox message %s delivered", message_id)
            for failure, attempt, outcome in recorded.failures:
                # The row id, never the recipient or the Message-ID (which looks like an address).
                logger.warning(
                    "outbox message %s: attempt %d failed (%s): %s",
                    failure.id,
                    attempt,
                    outcome,
                    failure.error,
                )
                if outcome is leases.FailureOutcome.RETRY:
                    report.retrying += 1
                    MAIL_DELIVERIES.labels("retry").inc()
                elif outcome is leases.FailureOutcome.FAILED:
                    report.failed += 1
                    MAIL_DELIVERIES.labels("failed").inc()
                else:
                    report.skipped += 1
        if first_error is not None:
            raise first_error

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
    writes: UnitRunner | None = None,
    sealer: OutboxSealer | None = None,
) -> BackgroundWorker:
    """Start the delivery loop in a daemon thread (the embedded default of `authsvc serve`)."""
    worker = OutboxWorker(engine, transport, settings, writes=writes, sealer=sealer)
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
