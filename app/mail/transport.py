"""What leaves the process: SMTP configured by URL, or `.eml` files in the mail folder.

A transport's `send` either returns (the message is accepted: by the SMTP server, or on disk) or
raises `DeliveryError`, whose text is safe to store and log: no address, credential or token.
"""

from __future__ import annotations

import email.policy
import hashlib
import logging
import os
import re
import smtplib
import socket
import ssl
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Protocol

from authsvc.config import Settings
from authsvc.smtp_url import SmtpEndpoint as SmtpEndpoint  # re-exported: the URL's parse
from authsvc.smtp_url import parse_smtp_url

logger = logging.getLogger(__name__)

_ADDRESS = re.compile(r"[^\s<>\"'(),;:\[\]]+@[^\s<>\"'(),;:\[\]]+")
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9.-]+")
MAX_ERROR_CHARS = 300
# A temporary file whose writer may still be alive (another host, another pid namespace) is removed
# only past this age; a write takes milliseconds. Maildir's readers use 36 hours for the same rule.
STALE_TEMPORARY_SECONDS = 3600.0
# Files one batch of the file transport writes at once (see `_write_all`).
WRITER_THREADS = 16
_TEMPORARY = re.compile(r"^\.(?:(?P<pid>\d+)\.)?[^/]*\.tmp$")


class DeliveryError(Exception):
    """A failed delivery attempt; `str(error)` is safe to store in `last_error` and to log."""


@dataclass(frozen=True, slots=True)
class OutboundMail:
    """One outbox row, detached from its session so it can be sent outside any transaction."""

    message_id: str
    recipient: str
    subject: str
    text: str
    html: str
    created_at: datetime


class Transport(Protocol):
    """Delivers messages; the worker checks its leases between calls of `send_batch`."""

    # How many messages one `send_batch` may take: a whole call must end well within half a lease
    # (authsvc.mail.worker), and a worker that dies in a call sends its messages again.
    max_batch: int

    def send_batch(self, mails: Sequence[OutboundMail]) -> list[DeliveryError | None]:
        """Each message's outcome, in order: None once it is durably delivered, else the error."""
        ...

    def describe(self) -> str: ...


class SendsOneAtATime:
    """`send_batch` as one `send` per message, for transports without a cheaper batch."""

    max_batch = 1

    def send(self, mail: OutboundMail) -> None:
        raise NotImplementedError

    def send_batch(self, mails: Sequence[OutboundMail]) -> list[DeliveryError | None]:
        outcomes: list[DeliveryError | None] = []
        for mail in mails:
            try:
                self.send(mail)
            except DeliveryError as exc:
                outcomes.append(exc)
            except Exception as exc:  # a transport bug must not stop the other messages
                outcomes.append(DeliveryError(describe_error(exc)))
            else:
                outcomes.append(None)
        return outcomes


def describe_error(exc: BaseException) -> str:
    """A short account of `exc` with every e-mail address redacted (servers echo them back)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _reply in exc.recipients.values()})
        text = f"recipient refused ({', '.join(str(c) for c in codes)})"
    elif isinstance(exc, smtplib.SMTPResponseException):
        reply = exc.smtp_error
        reply_text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
        text = f"{type(exc).__name__}: {exc.smtp_code} {reply_text}"
    elif isinstance(exc, OSError) and exc.strerror:
        text = f"{type(exc).__name__}: {exc.strerror}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    text = _ADDRESS.sub("***", " ".join(text.split()))
    return text[:MAX_ERROR_CHARS]


class _CachedHeaderRegistry(HeaderRegistry):
    """The stock registry, minus a new header class per header per message.

    `HeaderRegistry[name]` builds its class with `type()` on every lookup, and a message looks up
    each header several times: measured, a third of building and serialising an invite. Our
    messages use a dozen header names, so the classes are kept (bounded all the same).
    """

    _MAX_NAMES = 256

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        cached = self._classes.get(key)
        if cached is None:
            cached = super().__getitem__(name)
            if len(self._classes) < self._MAX_NAMES:
                self._classes[key] = cached
        return cached


# email.policy.default, with the header classes cached; the bytes it produces are the same.
MAIL_POLICY = email.policy.default.clone(header_factory=_CachedHeaderRegistry())


def build_email(mail: OutboundMail, *, mail_from: str) -> EmailMessage:
    """multipart/alternative (text, then HTML) with the stored Message-ID and a stable Date."""
    message = EmailMessage(policy=MAIL_POLICY)
    message["Message-ID"] = mail.message_id
    # The enqueue time, not the send time: a retry is then byte-for-byte the same message.
    message["Date"] = format_datetime(mail.created_at)
    message["From"] = mail_from
    message["To"] = mail.recipient
    message["Subject"] = mail.subject
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
    message.set_content(mail.text)
    boundary = _boundary(mail)
    if boundary is not None:
        message.make_alternative(boundary=boundary)
    message.add_alternative(mail.html, subtype="html")
    return message


def _boundary(mail: OutboundMail) -> str | None:
    """A MIME boundary derived from the Message-ID, or None to let the generator pick one.

    Without one, the generator draws a random boundary and compiles a new regular expression per
    message to check that no part contains it: a sixth of building an invite. `=_` never occurs
    in quoted-printable or base64 output, and the check below covers parts sent as they are. Being
    derived from the Message-ID, it also keeps a retry byte-for-byte the same message.
    """
    boundary = "=_" + hashlib.sha256(mail.message_id.encode()).hexdigest()[:40]
    return None if boundary in mail.text or boundary in mail.html else boundary


class SmtpTransport(SendsOneAtATime):
    """One SMTP connection per message; once the server accepts DATA, the message counts as sent."""

    def __init__(self, url: str, *, mail_from: str, timeout_seconds: float) -> None:
        self._endpoint = parse_smtp_url(url)
        self._mail_from = mail_from
        self._envelope_from = parseaddr(mail_from)[1]
        self._timeout = timeout_seconds
        self._local_hostname: str | None = self._endpoint.helo

    def describe(self) -> str:
        return self._endpoint.describe()

    def send(self, mail: OutboundMail) -> None:
        message = build_email(mail, mail_from=self._mail_from)
        try:
            client = self._connect()
            try:
                if self._endpoint.mode == "starttls":
                    client.starttls(context=self._tls_context())
                if self._endpoint.username:
                    client.login(self._endpoint.username, self._endpoint.password or "")
                client.send_message(
                    message, from_addr=self._envelope_from, to_addrs=[mail.recipient]
                )
            finally:
                _quit_quietly(client)
        except (smtplib.SMTPException, OSError, UnicodeError) as exc:
            raise DeliveryError(describe_error(exc)) from None

    def _connect(self) -> smtplib.SMTP:
        if self._local_hostname is None:
            # Resolved once: getfqdn() may wait on DNS, and smtplib would ask again per message.
            self._local_hostname = socket.getfqdn()
        endpoint = self._endpoint
        if endpoint.mode == "tls":
            return smtplib.SMTP_SSL(
                endpoint.host,
                endpoint.port,
                local_hostname=self._local_hostname,
                timeout=self._timeout,
                context=self._tls_context(),
            )
        return smtplib.SMTP(
            endpoint.host, endpoint.port, local_hostname=self._local_hostname, timeout=self._timeout
        )

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if not self._endpoint.verify:  # `?verify=false`: self-signed test servers only
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


def _quit_quietly(client: smtplib.SMTP) -> None:
    # A failing QUIT after an accepted DATA must not turn a delivered message into a retry (that
    # retry would be a duplicate), so QUIT errors are swallowed here, unlike in smtplib's __exit__.
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


def eml_filename(message_id: str) -> str:
    """A file name derived from the Message-ID alone (no address, no token), one per message."""
    return _UNSAFE_FILENAME.sub("_", message_id.strip("<>")).strip("._") + ".eml"


class FileTransport:
    """Writes each message to `<directory>/<message-id>.eml` atomically; a retry overwrites it.

    A batch is written by a few threads at once, each file synced and renamed, then the folder is
    synced once: a message counts as delivered only once its file and its name are on disk, and a
    batch pays about one commit of the filesystem's journal rather than two per message (see
    `_write_all`).

    A writer killed between creating its temporary file and the rename leaves a complete message,
    invite link included, under a hidden name; each transport removes such leftovers as it starts.
    """

    max_batch = 100  # written in well under a second: far inside half a lease

    def __init__(self, directory: Path, *, mail_from: str) -> None:
        self._directory = directory
        self._mail_from = mail_from
        remove_stale_temporaries(directory)

    def describe(self) -> str:
        return f"files in {self._directory}"

    def send(self, mail: OutboundMail) -> None:
        """Deliver one message (a batch of one); raises `DeliveryError`."""
        [error] = self.send_batch([mail])
        if error is not None:
            raise error

    def send_batch(self, mails: Sequence[OutboundMail]) -> list[DeliveryError | None]:
        try:
            self._directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            return [DeliveryError(describe_error(exc))] * len(mails)
        files: list[tuple[Path, bytes] | DeliveryError] = []
        for mail in mails:
            try:
                data = build_email(mail, mail_from=self._mail_from).as_bytes(policy=MAIL_POLICY)
            except Exception as exc:  # this message only: the others still go
                files.append(DeliveryError(describe_error(exc)))
            else:
                files.append((self._directory / eml_filename(mail.message_id), data))
        outcomes = _write_all(files)
        _sync_directory(self._directory)  # the renames are durable from here
        for file, outcome in zip(files, outcomes, strict=True):
            if outcome is None and not isinstance(file, DeliveryError):
                logger.info("mail written to %s", file[0])
        return outcomes


def remove_stale_temporaries(directory: Path, *, now: float | None = None) -> list[Path]:
    """Delete the temporary files no live writer will rename: its process is gone, or it is old.

    The writer's pid is in the name (`.<pid>.<random>.tmp`, as Maildir puts it in its `tmp/`
    names), so several workers writing to one folder never remove each other's file in flight.
    """
    now = time.time() if now is None else now
    removed: list[Path] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed  # no folder yet: nothing was ever written
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False):
            continue
        pid = match.group("pid")
        try:
            old = now - entry.stat(follow_symlinks=False).st_mtime > STALE_TEMPORARY_SECONDS
        except OSError:
            continue
        if old or (pid is not None and int(pid) != os.getpid() and not _process_alive(int(pid))):
            with suppress(FileNotFoundError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    if removed:
        logger.warning("removed %d unfinished mail file(s) from %s", len(removed), directory)
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, someone else's
    except OverflowError:
        return False
    return True


def _write_all(files: Sequence[tuple[Path, bytes] | DeliveryError]) -> list[DeliveryError | None]:
    """Write each file atomically and durably (its name is not, until the folder is synced).

    The files are written by a few threads at once: each file still gets its own fsync (what POSIX
    promises durability for), but the syncs issued together are committed together by the
    filesystem (one journal commit on ext4 or XFS) where back to back each waits for its own; and
    the delivery thread does not queue for the interpreter lock after every system call of every
    file while request threads keep it busy. The figures are in bench/results/2026-12-04-outbox.md.
    """

    def write(file: tuple[Path, bytes] | DeliveryError) -> DeliveryError | None:
        if isinstance(file, DeliveryError):
            return file
        try:
            _write_atomically(*file)
        except OSError as exc:
            return DeliveryError(describe_error(exc))
        return None

    if len(files) <= 1:
        return [write(file) for file in files]
    with ThreadPoolExecutor(max_workers=min(len(files), WRITER_THREADS)) as pool:
        return list(pool.map(write, files))


def _write_atomically(path: Path, data: bytes) -> None:
    """`data` durably in a temporary file, then renamed to `path` (the caller syncs the folder)."""
    # mkstemp creates the file 0600: the message holds a live invite link until it is read. The pid
    # in the name tells a later start whether the writer can still finish it.
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{os.getpid()}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _sync_directory(directory: Path) -> None:
    with suppress(OSError):  # make renames durable; not possible on every platform
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def build_transport(settings: Settings) -> Transport:
    """SMTP when `AUTHSVC_SMTP_URL` is set, else `.eml` files in the mail folder."""
    if settings.smtp_url is not None:
        return SmtpTransport(
            settings.smtp_url.get_secret_value(),
            mail_from=settings.mail_from,
            timeout_seconds=settings.smtp_timeout_seconds,
        )
    return FileTransport(settings.resolved_mail_dir, mail_from=settings.mail_from)
