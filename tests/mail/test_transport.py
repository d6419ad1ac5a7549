"""Transports: SMTP by URL (plain, STARTTLS, TLS, credentials) against aiosmtpd; `.eml` files."""

from __future__ import annotations

import email
import email.policy
import logging
import os
import signal
import smtplib
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from authsvc.errors import ConfigError
from authsvc.mail import transport
from authsvc.mail.transport import (
    MAIL_POLICY,
    DeliveryError,
    FileTransport,
    OutboundMail,
    SmtpEndpoint,
    SmtpTransport,
    build_email,
    build_transport,
    describe_error,
    eml_filename,
    parse_smtp_url,
)
from tests.support.mail import SMTP_USER, SmtpServer, free_port, make_settings

MAIL_FROM = "Example Auth <no-reply@mail.example.test>"
MAIL = OutboundMail(
    message_id="<0f8c5a4e-7d0b-4b8e-9a57-1f0e2d3c4b5a@mail.example.test>",
    recipient="ada@example.test",
    subject="You're invited to join Acme",
    text="Hello Ada,\nhttps://auth.example.test/invite/tok-SECRET\n",
    html='<p>Hello Ada, <a href="https://auth.example.test/invite/tok-SECRET">accept</a></p>\n',
    created_at=datetime(2030, 1, 1, 9, 0, tzinfo=UTC),
)


def _smtp(url: str) -> SmtpTransport:
    return SmtpTransport(url, mail_from=MAIL_FROM, timeout_seconds=2.0)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "smtp://mx.example.test",
            SmtpEndpoint("plain", "mx.example.test", 25, None, None, True, None),
        ),
        (
            "smtp+starttls://u%40x:p%3Aw@mx.example.test",
            SmtpEndpoint("starttls", "mx.example.test", 587, "u@x", "p:w", True, None),
        ),
        (
            "smtps://u:p@mx.example.test:2465?verify=false&helo=me.example.test",
            SmtpEndpoint("tls", "mx.example.test", 2465, "u", "p", False, "me.example.test"),
        ),
        (
            "smtp://127.0.0.1:2525/",
            SmtpEndpoint("plain", "127.0.0.1", 2525, None, None, True, None),
        ),
    ],
    ids=["plain-default-port", "starttls-quoted-credentials", "tls-options", "trailing-slash"],
)
def test_parse_smtp_url__valid(url: str, expected: SmtpEndpoint) -> None:
    assert parse_smtp_url(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://u:hunter2@mx.example.test", "scheme must be one of"),
        ("smtp+starttls://u:hunter2@:25", "missing host"),
        ("smtps://u:hunter2@mx.example.test:99999", "invalid port"),
        ("smtps://u:hunter2@mx.example.test/inbox", "unexpected path"),
        ("smtps://u:hunter2@mx.example.test?verfy=false", "unknown option verfy"),
        ("smtps://u:hunter2@mx.example.test?verify=maybe", "verify must be true or false"),
        ("smtp://u:hunter2@mx.example.test", "credentials need"),
    ],
    ids=["scheme", "host", "port", "path", "unknown-option", "verify-value", "cleartext-password"],
)
def test_parse_smtp_url__invalid__names_variable_never_password(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse_smtp_url(url)
    assert str(caught.value).startswith("AUTHSVC_SMTP_URL: ")
    assert "hunter2" not in str(caught.value)


def test_build_email__multipart_alternative_with_stored_headers() -> None:
    message = build_email(MAIL, mail_from=MAIL_FROM)

    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["Message-ID"] == MAIL.message_id
    assert message["From"] == MAIL_FROM
    assert message["To"] == MAIL.recipient
    assert message["Subject"] == MAIL.subject
    assert message["Date"] == "Tue, 01 Jan 2030 09:00:00 +0000"


@pytest.mark.parametrize(
    ("name", "subject"),
    [("Ada", MAIL.subject), ("Zoë Ñúñez", "Bienvenue chez Café « Crème » " + "é" * 80)],
    ids=["ascii", "non-ascii-and-folded"],
)
def test_build_email__cached_policy_writes_the_same_bytes_as_the_default(
    name: str, subject: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    mail = OutboundMail(
        message_id=MAIL.message_id,
        recipient=MAIL.recipient,
        subject=subject,
        text=f"Hello {name},\n" + "a long line of text " * 10,
        html=f"<p>Hello {name},</p>",
        created_at=MAIL.created_at,
    )

    def written(policy: email.policy.EmailPolicy[EmailMessage]) -> bytes:
        monkeypatch.setattr(transport, "MAIL_POLICY", policy)
        message = build_email(mail, mail_from=f"{name} <no-reply@mail.example.test>")
        message.set_boundary("fixed-boundary")
        return message.as_bytes(policy=policy)

    assert written(MAIL_POLICY) == written(email.policy.default)


@pytest.mark.parametrize("mode", ["plain", "starttls", "tls"])
def test_smtp_transport__delivers(mode: str, certificate: tuple[Path, Path]) -> None:
    server = SmtpServer(port=free_port(), mode=mode, certificate=certificate)
    server.start()
    try:
        _smtp(server.url).send(MAIL)
    finally:
        server.stop()

    [received] = server.received
    assert received.message_id == MAIL.message_id
    assert (received.mail_from, received.rcpt_tos) == (
        "no-reply@mail.example.test",
        [MAIL.recipient],
    )
    assert received.login == (None if mode == "plain" else SMTP_USER.encode())
    body = received.message.get_body(("plain",))
    html = received.message.get_body(("html",))
    assert body is not None
    assert "invite/tok-SECRET" in body.get_content()
    assert html is not None
    assert 'href="https://auth.example.test/invite/tok-SECRET"' in html.get_content()


@pytest.mark.parametrize(
    ("mode", "url_change", "error"),
    [
        ("starttls", ("s3cret", "bad-pass-x"), "SMTPAuthenticationError: 535"),
        ("tls", ("?verify=false", ""), "SSLCertVerificationError"),
        ("plain", ("smtp://", "smtps://"), "SSLError"),
    ],
    ids=["wrong-password", "self-signed-verified", "tls-to-plain-server"],
)
def test_smtp_transport__refused__delivery_error_without_secrets(
    mode: str, url_change: tuple[str, str], error: str, certificate: tuple[Path, Path]
) -> None:
    server = SmtpServer(port=free_port(), mode=mode, certificate=certificate)
    server.start()
    try:
        with pytest.raises(DeliveryError, match=error) as caught:
            _smtp(server.url.replace(*url_change)).send(MAIL)
    finally:
        server.stop()
    assert server.received == []
    assert "s3cret" not in str(caught.value)
    assert "bad-pass-x" not in str(caught.value)


def test_smtp_transport__server_down__delivery_error() -> None:
    with pytest.raises(DeliveryError, match="ConnectionRefusedError: Connection refused"):
        _smtp(f"smtp://127.0.0.1:{free_port()}").send(MAIL)


def test_smtp_transport__recipient_refused__error_names_no_address(smtp_server: SmtpServer) -> None:
    smtp_server.rcpt_reply = "550 5.1.1 <ada@example.test>: Recipient address rejected"
    with pytest.raises(DeliveryError) as caught:
        _smtp(smtp_server.url).send(MAIL)
    assert str(caught.value) == "recipient refused (550)"


def test_smtp_transport__failing_quit_after_accepted_data__still_sent(
    smtp_server: SmtpServer,
) -> None:
    # smtplib's own `with SMTP()` raises here, which would turn a delivered mail into a retry.
    smtp_server.quit_reply = "554 5.0.0 Go away"
    _smtp(smtp_server.url).send(MAIL)
    assert smtp_server.count_by_message_id() == {MAIL.message_id: 1}


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (
            smtplib.SMTPRecipientsRefused({"a@x.test": (550, b"no"), "b@x.test": (451, b"later")}),
            "recipient refused (451, 550)",
        ),
        (
            smtplib.SMTPSenderRefused(553, b"5.1.8 <no-reply@x.test> rejected", "no-reply@x.test"),
            "SMTPSenderRefused: 553 5.1.8 <***> rejected",
        ),
        (
            ConnectionRefusedError(111, "Connection refused"),
            "ConnectionRefusedError: Connection refused",
        ),
        (
            RuntimeError("boom for eve@example.test\n  at line 3"),
            "RuntimeError: boom for *** at line 3",
        ),
        (RuntimeError("x" * 1000), "RuntimeError: " + "x" * 286),
    ],
    ids=["recipients-refused", "sender-refused", "os-error", "generic-redacted", "truncated"],
)
def test_describe_error__short_and_redacted(error: BaseException, text: str) -> None:
    assert describe_error(error) == text


@pytest.mark.parametrize(
    ("message_id", "name"),
    [
        ("<0f8c5a4e-7d0b@mail.example.test>", "0f8c5a4e-7d0b_mail.example.test.eml"),
        ("<../../etc/passwd@x>", "etc_passwd_x.eml"),
    ],
    ids=["uuid-at-domain", "path-traversal"],
)
def test_eml_filename__safe(message_id: str, name: str) -> None:
    assert eml_filename(message_id) == name


def test_file_transport__writes_parsable_eml_and_logs_only_the_path(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "mail"
    transport = FileTransport(directory, mail_from=MAIL_FROM)

    with caplog.at_level(logging.INFO, logger="authsvc.mail.transport"):
        transport.send(MAIL)
        transport.send(MAIL)  # a retry overwrites: still one file per message

    [path] = directory.iterdir()
    assert path.name == eml_filename(MAIL.message_id)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds a live invite link
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert parsed["Message-ID"] == MAIL.message_id
    assert parsed["To"] == MAIL.recipient
    body = parsed.get_body(("plain",))
    assert body is not None
    assert "invite/tok-SECRET" in body.get_content()
    assert [r.getMessage() for r in caplog.records] == [f"mail written to {path}"] * 2
    assert "@" not in caplog.text
    assert "SECRET" not in caplog.text


def test_file_transport__unwritable__delivery_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    with pytest.raises(DeliveryError, match=r"FileExistsError|NotADirectoryError"):
        FileTransport(blocker, mail_from=MAIL_FROM).send(MAIL)


@pytest.mark.parametrize(
    ("smtp_url", "kind", "description"),
    [
        (None, FileTransport, "files in {tmp}/mail"),
        ("smtps://u:p@mx.example.test", SmtpTransport, "smtps://mx.example.test:465"),
    ],
    ids=["no-smtp-url-files", "smtp-url"],
)
def test_build_transport__picks_by_smtp_url(
    tmp_path: Path, smtp_url: str | None, kind: type, description: str
) -> None:
    transport = build_transport(make_settings(tmp_path, smtp_url=smtp_url))
    assert isinstance(transport, kind)
    assert transport.describe() == description.format(tmp=tmp_path)


# A writer that stalls in fsync, after writing the whole message to its temporary file.
_STALLED_WRITER = """
import sys, time
from datetime import UTC, datetime
from pathlib import Path
from authsvc.mail import transport
transport.os.fsync = lambda fd: time.sleep(120)
transport.FileTransport(Path(sys.argv[1]), mail_from="a@mail.example.test").send(
    transport.OutboundMail(
        message_id="<m1@mail.example.test>", recipient="ada@example.test", subject="Invite",
        text="https://auth.example.test/invite/tok-SECRET", html="<p>tok-SECRET</p>",
        created_at=datetime(2030, 1, 1, tzinfo=UTC),
    )
)
"""


def _temporaries(directory: Path) -> list[Path]:
    return sorted(directory.glob(".*.tmp"))


def test_file_transport__writer_killed_mid_delivery__leftover_removed_at_next_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "mail"
    writer = subprocess.Popen([sys.executable, "-c", _STALLED_WRITER, str(directory)])
    try:
        deadline = time.monotonic() + 30
        while not any(p.stat().st_size for p in _temporaries(directory)):
            assert writer.poll() is None, "the writer died before writing"
            assert time.monotonic() < deadline, "the writer never wrote its temporary file"
            time.sleep(0.05)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=10)
    [leftover] = _temporaries(directory)
    assert b"tok-SECRET" in leftover.read_bytes()  # a complete invite, link included
    assert stat.S_IMODE(leftover.stat().st_mode) == 0o600

    with caplog.at_level(logging.WARNING, logger="authsvc.mail.transport"):
        FileTransport(directory, mail_from=MAIL_FROM)

    assert list(directory.iterdir()) == []
    assert "removed 1 unfinished mail file" in caplog.text
    assert "SECRET" not in caplog.text


def test_remove_stale_temporaries__spares_live_writers_and_fresh_files(tmp_path: Path) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait(timeout=30)
        now = time.time()
        files = {
            "live-writer": tmp_path / f".{sleeper.pid}.abc123.tmp",
            "own-process": tmp_path / f".{os.getpid()}.abc123.tmp",
            "dead-writer": tmp_path / f".{dead.pid}.abc123.tmp",
            "no-pid-fresh": tmp_path / ".abc123.tmp",
            "no-pid-old": tmp_path / ".old123.tmp",
            "live-writer-old": tmp_path / f".{sleeper.pid}.old123.tmp",
            "a-message": tmp_path / "m1_mail.example.test.eml",
        }
        for path in files.values():
            path.write_bytes(b"x")
        old = now - transport.STALE_TEMPORARY_SECONDS - 60
        for name in ("no-pid-old", "live-writer-old"):
            os.utime(files[name], (old, old))

        removed = transport.remove_stale_temporaries(tmp_path, now=now)
    finally:
        sleeper.kill()
        sleeper.wait(timeout=10)

    gone = {name for name, path in files.items() if not path.exists()}
    assert gone == {"dead-writer", "no-pid-old", "live-writer-old"}
    assert sorted(removed) == sorted(files[name] for name in gone)


def test_remove_stale_temporaries__missing_folder__nothing_to_do(tmp_path: Path) -> None:
    assert transport.remove_stale_temporaries(tmp_path / "absent") == []
