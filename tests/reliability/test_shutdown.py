"""SIGTERM to a real `authsvc serve`: the request in flight is answered, the mail being sent is
sent and recorded, new connections are refused, and the process exits 0, within a bound."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session as DbSession

from authsvc.db.models import OutboxMessage, OutboxStatus
from tests.reliability.support import resend_path
from tests.support.processes import authsvc_bin, free_port, run_demo, service_env, wait_for_http

API = "/auth/api/v1"


@dataclass
class StallingSmtp:
    """aiosmtpd whose DATA waits for `release`; `in_data` is set when a message is being sent."""

    port: int
    in_data: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    delivered: list[bytes] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.in_data.set()
        await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 30)
        assert isinstance(envelope.content, bytes)
        self.delivered.append(envelope.content)
        return "250 2.0.0 OK"


@contextmanager
def stalling_smtp() -> Iterator[StallingSmtp]:
    server = StallingSmtp(free_port())
    controller = Controller(server, hostname="127.0.0.1", port=server.port)
    controller.start()
    try:
        yield server
    finally:
        server.release.set()
        controller.stop()


@contextmanager
def serve(
    tmp_path: Path, settings: dict[str, str]
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [authsvc_bin(), "serve", "--data-dir", str(tmp_path / "data"), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=service_env(settings),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(base + "/healthz", process=process)
        yield process, base
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        log.close()


def _create_user_head(base: str, demo: dict[str, str], body: bytes) -> bytes:
    return (
        f"POST {API}/customers/{demo['customer_id']}/users HTTP/1.1\r\n"
        f"Host: {base.removeprefix('http://')}\r\n"
        f"Authorization: Bearer {demo['admin_token']}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()


def test_sigterm__drains_the_request_and_the_mail_in_flight_then_exits_0(tmp_path: Path) -> None:
    import httpx

    with stalling_smtp() as smtp:
        settings = {
            "AUTHSVC_SMTP_URL": f"smtp://127.0.0.1:{smtp.port}",
            "AUTHSVC_OUTBOX_POLL_SECONDS": "0.1",
        }
        with serve(tmp_path, settings) as (process, base):
            demo = json.loads(run_demo(tmp_path / "data", base, settings))
            resend = httpx.post(
                base + resend_path(demo["customer_id"], demo["invited_user_id"]),
                headers={"Authorization": f"Bearer {demo['admin_token']}"},
            )
            assert resend.status_code == 200
            assert smtp.in_data.wait(15), "the invite never reached the SMTP server"

            # A request in flight: its body arrives only after the SIGTERM.
            body = json.dumps(
                {
                    "first_name": "Late",
                    "last_name": "Arrival",
                    "email": "late.arrival@example.com",
                    "subrole": {"id": _subrole(base, demo), "code": "cro", "label": "CRO"},
                }
            ).encode()
            port = int(base.rsplit(":", 1)[1])
            client = socket.create_connection(("127.0.0.1", port), timeout=20)
            client.sendall(_create_user_head(base, demo, body) + body[:10])
            time.sleep(0.3)
            process.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            with pytest.raises(ConnectionRefusedError):  # no new connection while draining
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
            client.sendall(body[10:])
            answer = b""
            while chunk := client.recv(65536):
                answer += chunk
            client.close()
            assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]

            assert process.poll() is None  # still finishing the message it is sending
            smtp.release.set()
            assert process.wait(30) == 0
    assert len(smtp.delivered) == 1
    engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'authsvc.db'}")
    try:
        with DbSession(engine) as session:
            statuses = session.scalars(select(OutboxMessage.status)).all()
    finally:
        engine.dispose()
    # The resend's mail was recorded as sent; the late user's invite waits for the next start.
    assert sorted(statuses) == [OutboxStatus.PENDING, OutboxStatus.SENT]


def _subrole(base: str, demo: dict[str, str]) -> str:
    import httpx

    subroles = httpx.get(
        f"{base}{API}/customers/{demo['customer_id']}/subroles",
        headers={"Authorization": f"Bearer {demo['admin_token']}"},
    ).json()["data"]
    return str(next(s["id"] for s in subroles if s["code"] == "cro"))


def test_sigterm__a_request_that_never_completes__exits_0_within_the_bound(tmp_path: Path) -> None:
    settings = {"AUTHSVC_SHUTDOWN_TIMEOUT_SECONDS": "1", "AUTHSVC_OUTBOX_POLL_SECONDS": "0.1"}
    with serve(tmp_path, settings) as (process, base):
        port = int(base.rsplit(":", 1)[1])
        stuck = socket.create_connection(("127.0.0.1", port), timeout=20)
        # A body that never finishes arriving (within the 10 s head timeout, so the server waits).
        stuck.sendall(
            b"POST /auth/api/v1/invite/x/accept HTTP/1.1\r\nHost: t\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
        )
        time.sleep(0.3)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
        elapsed = time.monotonic() - started
        stuck.close()
    # The bound: the 1 s grace period, then shutdown; generous for a loaded machine.
    assert elapsed < 10, elapsed
