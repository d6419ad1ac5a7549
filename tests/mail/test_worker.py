"""The outbox worker against a real SMTP server: delivered once, retried, given up, never lost."""

from __future__ import annotations

import email
import email.policy
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, update
from sqlalchemy.exc import OperationalError

from authsvc.config import Settings
from authsvc.db.engine import create_db_engine, write_engine
from authsvc.db.models import OutboxStatus, outbox_table
from authsvc.db.types import utcnow
from authsvc.mail import leases
from authsvc.mail.transport import (
    DeliveryError,
    FileTransport,
    OutboundMail,
    SendsOneAtATime,
    SmtpTransport,
    build_transport,
    eml_filename,
)
from authsvc.mail.worker import (
    DeliveryReport,
    OutboxWorker,
    start_background_worker,
    transaction_runner,
)
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


def smtp_transport(settings: Settings) -> SmtpTransport:
    transport = build_transport(settings)
    assert isinstance(transport, SmtpTransport)
    return transport


def statuses(engine: Engine) -> list[OutboxStatus]:
    return [row.status for row in outbox_rows(engine)]


def test_deliver_due__invite_reaches_smtp_server_and_token_is_scrubbed(
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
    assert (row.status, row.attempts, row.sealed_token) == (OutboxStatus.SENT, 1, None)
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
        assert row.sealed_token is not None  # still to be sent
    assert len(caplog.records) == 5
    assert "@" not in caplog.text  # no address, no Message-ID
    assert "secret" not in caplog.text

    smtp_server.start()
    drain(worker, engine, until=OutboxStatus.SENT)

    assert smtp_server.count_by_message_id() == Counter(dict.fromkeys(ids, 1))
    assert all(row.sealed_token is None for row in outbox_rows(engine))


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
        assert (row.attempts, row.sealed_token) == (2, None)
        assert row.last_error == "ConnectionRefusedError: Connection refused"


def test_deliver_due__lease_of_dead_worker_expires__delivered_once(
    engine: Engine, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    settings = make_settings(tmp_path, smtp_url=smtp_server.url, outbox_lease_seconds=0.5)
    [message_id] = enqueue_invites(engine, settings, 1)
    with write_engine(engine).begin() as connection:
        [claimed] = leases.claim_due(connection, owner="dead", limit=10, lease_seconds=0.5)
    live = OutboxWorker(engine, build_transport(settings), settings, owner="live")

    assert live.deliver_due() == DeliveryReport()  # still leased to the dead worker
    time.sleep(0.55)
    assert live.deliver_due() == DeliveryReport(claimed=1, sent=1)

    assert smtp_server.count_by_message_id() == {message_id: 1}
    # The dead worker's late report changes nothing.
    policy = leases.RetryPolicy(max_attempts=3, backoff_seconds=1, backoff_max_seconds=1)
    with write_engine(engine).begin() as connection:
        outcomes = leases.record_failures(
            connection, failures=[leases.Failure(claimed.id, "late")], owner="dead", policy=policy
        )
    assert outcomes == {claimed.id: leases.FailureOutcome.LEASE_LOST}
    assert statuses(engine) == [OutboxStatus.SENT]


class BlockingTransport(SendsOneAtATime):
    """Hangs inside the first send until released: a worker frozen mid-delivery."""

    def __init__(self, inner: SmtpTransport) -> None:
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
    frozen_transport = BlockingTransport(smtp_transport(settings))
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
    runner = transaction_runner(engine)

    def late_claim(unit: Callable[[Connection], Any]) -> Future[Any]:
        result = runner(unit)
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


class FlakyTransport(SendsOneAtATime):
    """Raises an unexpected error (a bug, not an SMTP refusal) on its first send."""

    def __init__(self, inner: SmtpTransport) -> None:
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
    transport = FlakyTransport(smtp_transport(settings))

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


class CountingTransport:
    """The real mail folder, counting each message it reports delivered: duplicates show."""

    def __init__(self, inner: FileTransport) -> None:
        self.inner = inner
        self.max_batch = inner.max_batch
        self.delivered = Counter[str]()
        self.batches: list[int] = []
        self._lock = threading.Lock()

    def describe(self) -> str:
        return "counting " + self.inner.describe()

    def send_batch(self, mails: Sequence[OutboundMail]) -> list[DeliveryError | None]:
        outcomes = self.inner.send_batch(mails)
        with self._lock:
            self.batches.append(len(mails))
            self.delivered.update(m.message_id for m, o in zip(mails, outcomes) if o is None)
        return outcomes


def file_transport(settings: Settings) -> FileTransport:
    transport = build_transport(settings)
    assert isinstance(transport, FileTransport)
    return transport


def test_deliver_due__a_batch_is_claimed_and_recorded_in_one_transaction_each(
    engine: Engine, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, outbox_batch_size=100)
    ids = enqueue_invites(engine, settings, 100)
    transport = CountingTransport(file_transport(settings))
    commits: list[object] = []

    def count(connection: object) -> None:
        commits.append(connection)

    event.listen(engine, "commit", count)
    report = OutboxWorker(engine, transport, settings).deliver_due()
    event.remove(engine, "commit", count)
    assert report == DeliveryReport(claimed=100, sent=100)
    assert len(commits) == 2  # the claim, then every outcome: not one transaction per message
    assert transport.batches == [100]  # the mail folder took the whole batch in one go
    assert transport.delivered == Counter(dict.fromkeys(ids, 1))
    assert statuses(engine) == [OutboxStatus.SENT] * 100


def test_deliver_due__workers_sending_batches__each_message_delivered_once(
    database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, outbox_batch_size=30)
    engines = [create_db_engine(database_url, timeout_seconds=10) for _ in range(4)]
    ids = enqueue_invites(engines[0], settings, 300)
    transport = CountingTransport(file_transport(settings))  # one folder, one count for all
    start = threading.Barrier(3)
    errors: list[BaseException] = []

    def work(engine: Engine, name: str) -> None:
        worker = OutboxWorker(engine, transport, settings, owner=name)
        try:
            start.wait(10)
            while worker.deliver_due().claimed:
                pass
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(e, f"w{n}")) for n, e in enumerate(engines[1:])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for engine in engines:
        engine.dispose()

    assert errors == []
    assert transport.delivered == Counter(dict.fromkeys(ids, 1))
    assert len(list(settings.resolved_mail_dir.glob("*.eml"))) == 300
    assert statuses_at(database_url) == [OutboxStatus.SENT] * 300


def statuses_at(database_url: str) -> list[OutboxStatus]:
    engine = create_db_engine(database_url)
    try:
        return statuses(engine)
    finally:
        engine.dispose()


# `authsvc worker` killed in the middle of a batch: after `argv[1]` files of the mail folder were
# renamed into place, before the batch is recorded (a crash, not a stop: no cleanup runs).
_CRASHING_WORKER = """
import os, sys, threading
from authsvc.config import load_settings
from authsvc.mail.worker import run_worker_process
real_replace, lock, renamed = os.replace, threading.Lock(), [0]
def replace(source, target):
    real_replace(source, target)
    with lock:
        renamed[0] += 1
        if renamed[0] == int(sys.argv[1]):
            os._exit(17)
os.replace = replace
sys.exit(run_worker_process(load_settings()))
"""


def test_worker_process__crash_mid_batch__every_message_delivered_none_lost(
    database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, database_url=database_url, outbox_batch_size=100)
    engine = create_db_engine(database_url)
    ids = enqueue_invites(engine, settings, 250)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSVC_")}
    env |= {
        "AUTHSVC_ENVIRONMENT": "test",
        "AUTHSVC_DATA_DIR": str(tmp_path),
        "AUTHSVC_DATABASE_URL": database_url,
        "AUTHSVC_OUTBOX_POLL_SECONDS": "0.05",
        "AUTHSVC_OUTBOX_BATCH_SIZE": "100",
        "AUTHSVC_OUTBOX_LEASE_SECONDS": "600",
    }
    crashed = subprocess.run(
        [sys.executable, "-c", _CRASHING_WORKER, "150"], cwd=REPO, env=env, timeout=120
    )
    assert crashed.returncode == 17  # died halfway through its second batch
    mail_dir = settings.resolved_mail_dir

    # What the dead worker recorded SENT is on disk, complete: recorded only once delivered.
    rows = outbox_rows(engine)
    recorded = [row.message_id for row in rows if row.status is OutboxStatus.SENT]
    assert len(recorded) == 100
    for message_id in recorded:
        assert _message_id_in(mail_dir / eml_filename(message_id)) == message_id
    leased = [row for row in rows if row.status is OutboxStatus.PENDING and row.lease_owner]
    assert len(leased) == 100  # the batch it died in, still leased to it

    # Its leases run out (as they would by waiting); another worker takes over.
    with write_engine(engine).begin() as connection:
        connection.execute(
            update(outbox_table).values(leased_until=utcnow() - timedelta(seconds=1))
        )
    transport = CountingTransport(file_transport(settings))  # removes the dead writer's leftovers
    worker = OutboxWorker(engine, transport, settings, owner="live")
    while worker.deliver_due().claimed:
        pass

    unrecorded = set(ids) - set(recorded)
    assert transport.delivered == Counter(dict.fromkeys(unrecorded, 1))  # nothing lost
    assert statuses(engine) == [OutboxStatus.SENT] * 250
    # A copy the dead worker had written is replaced by the same message: one file per Message-ID.
    files = sorted(mail_dir.iterdir())
    assert [path.name for path in files] == sorted(eml_filename(i) for i in ids)
    assert sorted(_message_id_in(path) for path in files) == sorted(ids)
    engine.dispose()


def _message_id_in(path: Path) -> str:
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    body = parsed.get_body(("plain",))
    assert body is not None
    assert "invite/tok-" in body.get_content()  # complete, not a torn write
    return str(parsed["Message-ID"])
