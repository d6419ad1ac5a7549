"""Helpers for the reliability suite: a recording HTTP server, counts from the database, waiting."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from authsvc.db.models import AuditEvent, Invitation, OutboxMessage, OutboxStatus

API = "/auth/api/v1"
UNAUTHORIZED = {"message": "Unauthorized", "errorCode": "ERR_UNAUTHORIZED"}


def resend_path(customer_id: Any, user_id: Any) -> str:
    return f"{API}/customers/{customer_id}/users/{user_id}/resend-invite"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def wait_until(condition: Callable[[], bool], *, timeout: float, step: float = 0.05) -> float:
    """Seconds until `condition()` holds; AssertionError after `timeout`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"condition not reached within {timeout}s")
        time.sleep(step)
    return time.monotonic() - started


class RecordingServer:
    """An HTTP server on loopback that answers 200 `{}` and records every request line."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                recorder.requests.append(f"GET {self.path}")
                body = b'{"keys": []}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    @contextmanager
    def running(self) -> Iterator[RecordingServer]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join(timeout=5)


def outbox_count(engine: Engine, *, status: OutboxStatus | None = None) -> int:
    query = select(func.count(OutboxMessage.id))
    if status is not None:
        query = query.where(OutboxMessage.status == status)
    with Session(engine) as session:
        return int(session.scalar(query) or 0)


def outbox_message_ids(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return list(session.scalars(select(OutboxMessage.message_id)))


def pending_invitations(engine: Engine, user_id: Any) -> int:
    user_id = uuid.UUID(str(user_id))
    with Session(engine) as session:
        return int(
            session.scalar(
                select(func.count(Invitation.id)).where(
                    Invitation.user_id == user_id,
                    Invitation.revoked_at.is_(None),
                    Invitation.accepted_at.is_(None),
                )
            )
            or 0
        )


def invitations(engine: Engine, user_id: Any) -> int:
    user_id = uuid.UUID(str(user_id))
    with Session(engine) as session:
        return int(
            session.scalar(select(func.count(Invitation.id)).where(Invitation.user_id == user_id))
            or 0
        )


def audit_outcomes(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return list(session.scalars(select(AuditEvent.outcome)))
