"""Mail under faults, end to end, on SQLite and PostgreSQL: nothing lost, duplicates bounded.

- SMTP down during a burst of resends through the live service, then back: every queued invite
  reaches the (aiosmtpd) server exactly once, counted by Message-ID.
- `authsvc worker` SIGKILLed while the SMTP server holds a message in DATA, then restarted: every
  message arrives; the one in flight may arrive twice (at-least-once), nothing else does.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session as DbSession

from authsvc.db.models import OutboxMessage, OutboxStatus
from tests.reliability.conftest import ServeFactory
from tests.reliability.support import (
    bearer,
    outbox_count,
    outbox_message_ids,
    resend_path,
    wait_until,
)
from tests.support.mail import SmtpServer, enqueue_invites, free_port, make_settings
from tests.support.processes import running

FAST_RETRIES: dict[str, Any] = {
    "outbox_poll_seconds": 0.05,
    "outbox_backoff_seconds": 0.05,
    "outbox_backoff_max_seconds": 0.3,
    "outbox_max_attempts": 1000,  # an outage must never make the worker give up in this test
    "smtp_timeout_seconds": 2.0,
    "resend_limit": 1000,
}


async def resend_burst(base_url: str, targets: list[tuple[str, str, str]]) -> Counter[int]:
    async with httpx.AsyncClient(timeout=60) as client:
        responses = await asyncio.gather(
            *(
                client.post(base_url + resend_path(c, u), headers=bearer(token))
                for c, u, token in targets
            )
        )
    return Counter(r.status_code for r in responses)


def test_smtp_outage__burst_then_restored__each_invite_delivered_exactly_once(
    serve: ServeFactory,
) -> None:
    smtp = SmtpServer(port=free_port())  # not started: the outage
    settings = {**FAST_RETRIES, "smtp_url": smtp.url}
    with serve(run_outbox_worker=True, **settings) as service:
        demo = service.demo
        targets = [
            (demo["customer_id"], demo["invited_user_id"], demo["admin_token"]),
            (demo["other_customer_id"], demo["other_invited_user_id"], demo["other_admin_token"]),
        ] * 15
        statuses = asyncio.run(resend_burst(service.base_url, targets))
        assert statuses == Counter({200: len(targets)}), "an SMTP outage must not fail a request"

        engine = service.engine
        # The worker is really failing against the closed port, not merely idle.
        wait_until(lambda: _failed_attempts(engine) >= len(targets), timeout=15)
        assert outbox_count(engine, status=OutboxStatus.SENT) == 0

        smtp.start()
        try:
            recovered = wait_until(
                lambda: outbox_count(engine, status=OutboxStatus.SENT) == len(targets),
                timeout=30,
            )
            received = smtp.count_by_message_id()
        finally:
            smtp.stop()
    print(f"\n{len(targets)} invites queued during the outage, all sent {recovered:.2f}s after")
    assert received == Counter(dict.fromkeys(outbox_message_ids(engine), 1))
    recipients = Counter(r.rcpt_tos[0] for r in smtp.received)
    assert recipients == Counter({"ivy.invited@example.com": 15, "gia.invited@example.com": 15})


def _failed_attempts(engine: Engine) -> int:
    with DbSession(engine) as session:
        return int(session.scalar(select(func.sum(OutboxMessage.attempts))) or 0)


class SlowSink(SmtpServer):
    """Takes `delay` seconds to answer each DATA; signals when message number `hold_at` arrives."""

    def __init__(self, port: int, *, delay: float, hold_at: int) -> None:
        super().__init__(port=port)
        self.delay = delay
        self.hold_at = hold_at
        self.holding = threading.Event()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        reply = await super().handle_DATA(server, session, envelope)  # recorded as received
        if len(self.received) == self.hold_at and not self.holding.is_set():
            self.holding.set()
            await asyncio.sleep(5)  # the worker is killed while it waits for this reply
        else:
            await asyncio.sleep(self.delay)
        return reply


def test_worker_sigkill__mid_delivery__nothing_lost_duplicates_at_most_the_one_in_flight(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    count, lease = 20, 1.5
    sink = SlowSink(free_port(), delay=0.05, hold_at=6)
    settings = make_settings(tmp_path, smtp_url=sink.url)
    message_ids = enqueue_invites(engine, settings, count)
    env = {
        "AUTHSVC_ENVIRONMENT": "test",
        "AUTHSVC_DATA_DIR": str(tmp_path),
        "AUTHSVC_DATABASE_URL": database_url,
        "AUTHSVC_SMTP_URL": sink.url,
        "AUTHSVC_SMTP_TIMEOUT_SECONDS": "10",
        "AUTHSVC_OUTBOX_POLL_SECONDS": "0.1",
        "AUTHSVC_OUTBOX_BATCH_SIZE": "5",
        "AUTHSVC_OUTBOX_LEASE_SECONDS": str(lease),
        "AUTHSVC_OUTBOX_BACKOFF_SECONDS": "0.1",
    }
    sink.start()
    try:
        with running(["worker"], log_path=tmp_path / "worker-1.log", settings=env) as first:
            assert sink.holding.wait(30), "the worker never reached the sixth message"
            first.process.send_signal(signal.SIGKILL)
            first.process.wait(timeout=10)
        killed_at = time.monotonic()
        assert outbox_count(engine, status=OutboxStatus.SENT) < count
        with running(["worker"], log_path=tmp_path / "worker-2.log", settings=env):
            wait_until(lambda: outbox_count(engine, status=OutboxStatus.SENT) == count, timeout=30)
        recovered = time.monotonic() - killed_at
        received = sink.count_by_message_id()
    finally:
        sink.stop()
    duplicates = {mid: n - 1 for mid, n in received.items() if n > 1}
    print(
        f"\nworker killed at message 6 of {count}: all sent {recovered:.2f}s later, "
        f"{sum(duplicates.values())} duplicate(s)"
    )
    assert set(received) == set(message_ids), "a message was lost"
    assert sum(duplicates.values()) <= 1, duplicates
