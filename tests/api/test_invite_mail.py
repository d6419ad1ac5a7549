"""The invite e-mail end to end: API -> outbox -> delivery loop -> a real SMTP server on loopback."""

from __future__ import annotations

import hashlib
import re
import time
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from authsvc.config import Settings
from authsvc.db.models import Invitation
from authsvc.db.types import utcnow
from authsvc.mail.transport import build_transport
from authsvc.mail.worker import OutboxWorker
from authsvc.services.container import Services
from tests.support.mail import SmtpServer

LINK = re.compile(r"https://app\.example\.test/invite/([A-Za-z0-9_\-]+)")


@pytest.fixture
def smtp(smtp_server: SmtpServer) -> SmtpServer:
    return smtp_server


@pytest.fixture
def worker(settings: Settings, services: Services, smtp: SmtpServer) -> OutboxWorker:
    smtp_settings = settings.model_copy(
        update={"smtp_url": SecretStr(smtp.url), "outbox_backoff_seconds": 0.01}
    )
    return OutboxWorker(services.engine, build_transport(smtp_settings), smtp_settings)


def resend(client: TestClient, demo: dict[str, Any]) -> int:
    url = f"/auth/api/v1/customers/{demo['customer_id']}/users/{demo['invited_user_id']}/resend-invite"
    return client.post(url, headers={"Authorization": f"Bearer {demo['admin_token']}"}).status_code


def valid_invitation(services: Services, token: str) -> Invitation | None:
    digest = hashlib.sha256(token.encode()).hexdigest()
    with Session(services.engine) as session:
        invitation = session.scalars(
            select(Invitation).where(Invitation.token_hash == digest)
        ).one()
        pending = invitation.revoked_at is None and invitation.accepted_at is None
        return invitation if pending and invitation.expires_at > utcnow() else None


def link_token(smtp: SmtpServer, index: int) -> str:
    message = smtp.received[index].message
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    (token,) = set(LINK.findall(text.get_content()))
    assert token in html.get_content()
    return token


def test_invite_mail__smtp_receives_a_link_whose_token_is_the_stored_hash(
    client: TestClient,
    demo: dict[str, Any],
    services: Services,
    smtp: SmtpServer,
    worker: OutboxWorker,
) -> None:
    assert resend(client, demo) == 200
    worker.deliver_due()
    (received,) = smtp.received
    assert received.rcpt_tos == ["ivy.invited@example.com"]
    assert valid_invitation(services, link_token(smtp, 0)) is not None


def test_invite_mail__a_resend_invalidates_the_previous_link(
    client: TestClient,
    demo: dict[str, Any],
    services: Services,
    smtp: SmtpServer,
    worker: OutboxWorker,
) -> None:
    for _ in range(2):
        assert resend(client, demo) == 200
        worker.deliver_due()
    first, second = link_token(smtp, 0), link_token(smtp, 1)
    assert valid_invitation(services, first) is None
    assert valid_invitation(services, second) is not None


def test_invite_mail__smtp_down_still_answers_200_and_delivers_after_restart(
    client: TestClient,
    demo: dict[str, Any],
    services: Services,
    smtp: SmtpServer,
    worker: OutboxWorker,
) -> None:
    smtp.stop()
    assert resend(client, demo) == 200
    report = worker.deliver_due()
    assert smtp.received == []
    assert report.sent == 0
    smtp.start()
    for _ in range(50):  # the retry is scheduled after a (tiny) backoff
        if worker.deliver_due().sent:
            break
        time.sleep(0.02)
    assert len(smtp.count_by_message_id()) == 1
    assert set(smtp.count_by_message_id().values()) == {1}
