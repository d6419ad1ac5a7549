"""The outbox worker against a real SMTP server: delivered once, retried, given up, never lost."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from authsvc.config import Settings
from authsvc.db.engine import create_db_engine, make_session_factory
from authsvc.db.models import OutboxStatus
from authsvc.mail import leases
from authsvc.mail.transport import OutboundMail, Transport, build_transport
from authsvc.mail.worker import DeliveryReport, OutboxWorker, start_background_worker
from tests.support.mail import SmtpServer, enqueue_invites, free_port, make_settings, outbox_rows

REPO = Path(__file__).resolve().parents[2]


def wait_until(condition: Callable[[], bool], *, timeout: float = 10.0, step: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(step)


def drain(worker: OutboxWorker, engine: Engine, *, until: OutboxStatus) -> list[DeliveryReport]:
    """Run rounds (waiting out backoffs) until every row has reached `until`."""
    reports: list[DeliveryReport] = []

    def settled() -> bool:
        reports.append(worker.deliver_due())
        return all(row.status is until for row in outbox_rows(engine))

    wait_until(settled)
    return reports


def statuses(engine: Engine) -> list[OutboxStatus]:
    return [row.status for row in outbox_rows(engine)]


def test_deliver_due__invite_reaches_smtp_server_and_bodies_are_scrubbed(
    engine: Engine, mail_settings: Settings, smtp_server: SmtpServer
) -> None:
    [message_id] = enqueue_invites(engine, mail_settings, 1)
    worker = OutboxWorker(engine, build_transport(mail_settings), mail_settings)

    assert worker.deliver_due() == DeliveryReport(claimed=1, sent=1)

    [received] = smtp_server.received
    assert received.message_id == message_id
    assert received.rcpt_tos == ["ada@example.test"]
    text, html = received.message.get_body(("plain",)), received.message.get_body(("html",))
    assert text is not None
    assert html is not None
    link = "https://auth.example.test/invite/tok-0-secret"
    assert link in text.get_content()
    assert f'href="{link}"' in html.get_content()
    assert "Hello Ada," in text.get_content()
    [row] = outbox_rows(engine)
    assert (row.status, row.attempts, row.body_text, row.body_html) == (
        OutboxStatus.SENT,
        1,
        None,
        None,
    )
    assert worker.deliver_due() == DeliveryReport()  # nothing sent twice


def test_deliver_due__smtp_down_then_back__each_delivered_once(
    engine: Engine,
    mail_settings: Settings,
    smtp_server: SmtpServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ids = enqueue_invites(engine, mail_settings, 5)
    worker = OutboxWorker(engine, build_transport(mail_settings), mail_settings)
    smtp_server.stop()

    with caplog.at_level(logging.WARNING, logger="authsvc.mail"):
        report = worker.deliver_due()

    assert report == DeliveryReport(claimed=5, retrying=5)
    for row in outbox_rows(engine):
        assert (row.status, row.attempts, row.lease_owner) == (OutboxStatus.PENDING, 1, None)
        assert row.last_error == "ConnectionRefusedError: Connection refused"
        assert row.next_attempt_at > row.created_at
        assert row.body_text is not None
    assert len(caplog.records) == 5
    assert "@" not in caplog.text  # no address, no Message-ID
    assert "secret" not in caplog.text

    smtp_server.start()
    drain(worker, engine, until=OutboxStatus.SENT)

    assert smtp_server.count_by_message_id() == Counter(dict.fromkeys(ids, 1))
    assert all(row.body_text is None for row in outbox_rows(engine))


def test_deliver_due__max_attempts__failed_and_scrubbed(engine: Engine, tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, smtp_url=f"smtp://127.0.0.1:{free_port()}", outbox_max_attempts=2
    )
    enqueue_invites(engine, settings, 2)
    worker = OutboxWorker(engine, build_transport(settings), settings)

    reports = drain(worker, engine, until=OutboxStatus.FAILED)

    assert sum(r.retrying for r in reports) == 2
    assert sum(r.failed for r in reports) == 2
    for row in outbox_rows(engine):
        assert (row.attempts, row.body_text, row.body_html) == (2, None, None)
        assert row.last_error == "ConnectionRefusedError: Connection refused"


def test_deliver_due__lease_of_dead_worker_expires__delivered_once(
    engine: Engine, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    settings = make_settings(tmp_path, smtp_url=smtp_server.url, outbox_lease_seconds=0.5)
    [message_id] = enqueue_invites(engine, settings, 1)
    sessions = make_session_factory(engine, write=True)
    [claimed] = leases.claim_due(sessions, owner="dead", limit=10, lease_seconds=0.5)
    live = OutboxWorker(engine, build_transport(settings), settings, owner="live")

    assert live.deliver_due() == DeliveryReport()  # still leased to the dead worker
    time.sleep(0.55)
    assert live.deliver_due() == DeliveryReport(claimed=1, sent=1)

    assert smtp_server.count_by_message_id() == {message_id: 1}
    # The dead worker's late report changes nothing.
    outcome = leases.record_failure(
        sessions,
        message_id=claimed.id,
        owner="dead",
        error="late",
        max_attempts=3,
        backoff_seconds=1,
        backoff_max_seconds=1,
    )
    assert outcome is leases.FailureOutcome.LEASE_LOST
    assert statuses(engine) == [OutboxStatus.SENT]


class BlockingTransport:
    """Hangs inside the first send until released: a worker frozen mid-delivery."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.entered, self.release = threading.Event(), threading.Event()
        self.sent: list[str] = []

    def describe(self) -> str:
        return "blocking"

    def send(self, mail: OutboundMail) -> None:
        if not self.entered.is_set():
            self.entered.set()
            assert self.release.wait(10)
        self.inner.send(mail)
        self.sent.append(mail.message_id)


def test_deliver_due__frozen_worker_outlives_lease__duplicates_at_most_the_one_in_flight(
    engine: Engine, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    settings = make_settings(tmp_path, smtp_url=smtp_server.url, outbox_lease_seconds=0.3)
    ids = enqueue_invites(engine, settings, 3)
    frozen_transport = BlockingTransport(build_transport(settings))
    frozen = OutboxWorker(engine, frozen_transport, settings, owner="frozen")
    live = OutboxWorker(engine, build_transport(settings), settings, owner="live")
    reports: list[DeliveryReport] = []
    thread = threading.Thread(target=lambda: reports.append(frozen.deliver_due()))
    thread.start()
    assert frozen_transport.entered.wait(5)

    time.sleep(0.35)  # the frozen worker's leases expire
    assert live.deliver_due() == DeliveryReport(claimed=3, sent=3)
    frozen_transport.release.set()
    thread.join(5)

    # The message in flight went out twice, with one Message-ID; the others only once.
    [in_flight] = frozen_transport.sent
    assert reports == [DeliveryReport(claimed=3, sent=1, skipped=2)]
    assert smtp_server.count_by_message_id() == {i: 2 if i == in_flight else 1 for i in ids}
    assert statuses(engine) == [OutboxStatus.SENT] * 3


def test_deliver_due__claim_returns_after_its_leases_expired__renews_and_skips_not_resends(
    engine: Engine, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    settings = make_settings(tmp_path, smtp_url=smtp_server.url, outbox_lease_seconds=0.3)
    ids = enqueue_invites(engine, settings, 2)
    live = OutboxWorker(engine, build_transport(settings), settings, owner="live")
    writes: list[str] = []

    def late_claim(write: Callable[[], Any]) -> Any:
        result = write()
        if not writes:
            # The claim's answer reaches the worker late (a lock wait, a queue): meanwhile its
            # leases expire and another worker claims and sends the messages.
            time.sleep(0.35)
            assert live.deliver_due() == DeliveryReport(claimed=2, sent=2)
        writes.append("write")
        return result

    late = OutboxWorker(
        engine, build_transport(settings), settings, owner="late", writes=late_claim
    )
    assert late.deliver_due() == DeliveryReport(claimed=2, skipped=2)
    assert smtp_server.count_by_message_id() == dict.fromkeys(ids, 1)


def test_deliver_due__two_workers_drain_one_outbox__each_message_once(
    database_url: str, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    settings = make_settings(tmp_path, smtp_url=smtp_server.url, outbox_batch_size=5)
    engines = [create_db_engine(database_url, timeout_seconds=10) for _ in range(3)]
    ids = enqueue_invites(engines[0], settings, 50)
    sent = Counter[str]()
    errors: list[BaseException] = []

    def work(engine: Engine, name: str) -> None:
        worker = OutboxWorker(engine, build_transport(settings), settings, owner=name)
        try:
            while True:
                report = worker.deliver_due()
                sent[name] += report.sent
                if report.claimed == 0 and all(s is OutboxStatus.SENT for s in statuses(engine)):
                    return
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(e, f"w{n}")) for n, e in enumerate(engines[1:])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for engine in engines:
        engine.dispose()

    assert errors == []
    assert smtp_server.count_by_message_id() == Counter(dict.fromkeys(ids, 1)), sent
    assert sum(sent.values()) == 50


def test_deliver_due__sent_but_not_recorded__recorded_next_round_not_resent(
    engine: Engine,
    mail_settings: Settings,
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    [message_id] = enqueue_invites(engine, mail_settings, 1)
    worker = OutboxWorker(engine, build_transport(mail_settings), mail_settings)
    real_record_sent = leases.record_sent

    def database_gone(*args: Any, **kwargs: Any) -> bool:
        monkeypatch.setattr(leases, "record_sent", real_record_sent)
        raise OperationalError("UPDATE", {}, Exception("server closed the connection"))

    monkeypatch.setattr(leases, "record_sent", database_gone)
    with pytest.raises(OperationalError):
        worker.deliver_due()
    assert statuses(engine) == [OutboxStatus.PENDING]

    assert worker.deliver_due() == DeliveryReport()

    assert statuses(engine) == [OutboxStatus.SENT]
    assert smtp_server.count_by_message_id() == {message_id: 1}


class FlakyTransport:
    """Raises an unexpected error (a bug, not an SMTP refusal) on its first send."""

    def __init__(self, inner: Transport) -> None:
        self.inner, self.calls = inner, 0

    def describe(self) -> str:
        return "flaky"

    def send(self, mail: OutboundMail) -> None:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("transport bug")
        self.inner.send(mail)


def test_run__database_missing_then_back_and_transport_bug__recovers_without_restart(
    tmp_path: Path,
    sqlite_template: Path,
    smtp_server: SmtpServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = make_settings(tmp_path, smtp_url=smtp_server.url)
    database = tmp_path / "later" / "authsvc.db"
    engine = create_db_engine(f"sqlite:///{database}", timeout_seconds=1)
    transport = FlakyTransport(build_transport(settings))

    with caplog.at_level(logging.INFO, logger="authsvc.mail"):
        handle = start_background_worker(engine, transport, settings)
        try:
            wait_until(lambda: "round failed" in caplog.text)  # no database yet
            database.parent.mkdir()
            shutil.copy(sqlite_template, database)
            [message_id] = enqueue_invites(engine, settings, 1)
            wait_until(lambda: smtp_server.count_by_message_id() == {message_id: 1})
        finally:
            assert handle.stop(timeout=5)
    engine.dispose()

    assert transport.calls == 2
    [row] = outbox_rows_of(database)
    assert (row.status, row.attempts, row.last_error) == (
        OutboxStatus.SENT,
        2,
        "RuntimeError: transport bug",
    )
    assert "recovered after" in caplog.text
    assert "stopped" in caplog.messages[-1]


def outbox_rows_of(database: Path) -> list[Any]:
    engine = create_db_engine(f"sqlite:///{database}")
    try:
        return outbox_rows(engine)
    finally:
        engine.dispose()


def test_run_worker_process__delivers_files_and_stops_on_sigterm(
    tmp_path: Path, sqlite_template: Path
) -> None:
    database = tmp_path / "authsvc.db"
    shutil.copy(sqlite_template, database)
    settings = make_settings(tmp_path, database_url=f"sqlite:///{database}")
    engine = create_db_engine(settings.resolved_database_url)
    [message_id] = enqueue_invites(engine, settings, 1)
    engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSVC_")}
    env |= {
        "AUTHSVC_ENVIRONMENT": "test",
        "AUTHSVC_DATA_DIR": str(tmp_path),
        "AUTHSVC_DATABASE_URL": settings.resolved_database_url,
        "AUTHSVC_OUTBOX_POLL_SECONDS": "0.05",
    }
    code = (
        "import sys; from authsvc.config import load_settings;"
        "from authsvc.mail.worker import run_worker_process;"
        "sys.exit(run_worker_process(load_settings()))"
    )
    process = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env)
    try:
        mail_dir = tmp_path / "mail"
        wait_until(lambda: mail_dir.is_dir() and any(mail_dir.glob("*.eml")), timeout=20)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    [eml] = mail_dir.glob("*.eml")
    assert message_id.strip("<>").split("@")[0] in eml.name
    assert statuses_of(database) == [OutboxStatus.SENT]


def statuses_of(database: Path) -> list[OutboxStatus]:
    return [row.status for row in outbox_rows_of(database)]
