"""Helpers for the mail tests: a loopback SMTP server (aiosmtpd), settings, seeded invites."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import socket
import ssl
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from sqlalchemy import Engine, select

from authsvc.config import Settings
from authsvc.db.engine import make_session_factory, write_engine
from authsvc.db.models import Customer, OutboxMessage, User
from authsvc.db.types import utcnow
from authsvc.mail.compose import compose_invite
from authsvc.mail.outbox import enqueue

SMTP_USER, SMTP_PASSWORD = "mailer", "s3cret-p@ss:word"


@dataclass
class Received:
    message: EmailMessage
    mail_from: str
    rcpt_tos: list[str]
    login: bytes | None

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])


@dataclass
class SmtpServer:
    """aiosmtpd on 127.0.0.1 that can be stopped and restarted on the same port."""

    port: int
    mode: str = "plain"  # plain | starttls | tls (the latter two require AUTH)
    certificate: tuple[Path, Path] | None = None
    received: list[Received] = field(default_factory=list)
    rcpt_reply: str | None = None  # e.g. "550 ..." to refuse every recipient
    quit_reply: str | None = None  # e.g. "554 ..." to misbehave after an accepted message
    _controller: Controller | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        if self.mode == "plain":
            return f"smtp://127.0.0.1:{self.port}"
        scheme = "smtp+starttls" if self.mode == "starttls" else "smtps"
        return f"{scheme}://{SMTP_USER}:s3cret-p%40ss%3Aword@127.0.0.1:{self.port}?verify=false"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_QUIT(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return self.quit_reply or "221 2.0.0 Bye"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.mode != "plain" and not session.authenticated:
            return "530 5.7.0 Authentication required"
        assert isinstance(envelope.content, bytes)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        login = session.auth_data.login if isinstance(session.auth_data, LoginPassword) else None
        with self._lock:
            self.received.append(
                Received(parsed, str(envelope.mail_from), list(envelope.rcpt_tos), login)
            )
        return "250 2.0.0 OK"

    def start(self) -> None:
        kwargs: dict[str, Any] = {}
        if self.mode != "plain":
            assert self.certificate is not None
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*self.certificate)
            kwargs["authenticator"] = _authenticate
            if self.mode == "starttls":
                kwargs.update(tls_context=context, require_starttls=True, auth_required=True)
            else:
                # Implicit TLS: aiosmtpd only counts STARTTLS as TLS, so AUTH is checked in DATA.
                kwargs.update(ssl_context=context, auth_require_tls=False)
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, **kwargs)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def count_by_message_id(self) -> Counter[str]:
        with self._lock:
            return Counter(r.message_id for r in self.received)


def _authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == SMTP_USER.encode()
        and auth_data.password == SMTP_PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Small timings so retries, backoff and leases play out in well under a second."""
    values: dict[str, Any] = {
        "environment": "test",
        "data_dir": tmp_path,
        "app_url": "https://auth.example.test",
        "mail_from": "Example Auth <no-reply@mail.example.test>",
        "smtp_timeout_seconds": 2.0,
        "outbox_poll_seconds": 0.05,
        "outbox_batch_size": 10,
        "outbox_max_attempts": 3,
        "outbox_backoff_seconds": 0.05,
        "outbox_backoff_max_seconds": 0.2,
        "outbox_lease_seconds": 5.0,
    }
    values.update(overrides)
    return Settings(**values)


def seed_customer_user(
    engine: Engine, *, email_address: str = "ada@example.test"
) -> tuple[uuid.UUID, uuid.UUID]:
    """One customer and one INVITED user; returns their ids."""
    with make_session_factory(engine, write=True).begin() as session:
        customer = Customer(name="Acme & Sons")
        session.add(customer)
        session.flush()
        user = User(
            customer_id=customer.id, email=email_address, first_name="Ada", last_name="Lovelace"
        )
        session.add(user)
        session.flush()
        return customer.id, user.id


def enqueue_invites(engine: Engine, settings: Settings, count: int) -> list[str]:
    """`count` invites committed to the outbox (one transaction); their Message-IDs."""
    customer_id, user_id = seed_customer_user(engine)
    with make_session_factory(engine).begin() as session:
        customer = session.get_one(Customer, customer_id)
        user = session.get_one(User, user_id)
    message_ids = []
    with write_engine(engine).begin() as connection:
        for number in range(count):
            mail = compose_invite(
                settings=settings,
                first_name=user.first_name,
                customer_name=customer.name,
                token=f"tok-{number}-secret",
                expires_at=utcnow() + dt.timedelta(days=7),
            )
            message_ids.append(
                enqueue(
                    connection, kind="invite", recipient=user.email, mail=mail, settings=settings
                )
            )
    return message_ids


def outbox_rows(engine: Engine) -> list[OutboxMessage]:
    with make_session_factory(engine)() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.created_at)))
