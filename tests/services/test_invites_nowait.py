"""A resend on the event loop (nowait) never retries there: a lost race goes to a thread instead."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from authsvc.db.engine import WriterBusy
from authsvc.db.models import Invitation
from authsvc.services.container import Services
from authsvc.services.invites import InviteService


def resend(services: Services, demo: dict[str, Any], *, nowait: bool) -> None:
    services.invites.resend_invite(
        principal=services.authenticate(demo["admin_token"]),
        customer_id=uuid.UUID(demo["customer_id"]),
        user_id=uuid.UUID(demo["invited_user_id"]),
        nowait=nowait,
    )


def invitations(services: Services) -> int:
    with services.health.engine.connect() as connection:
        return int(connection.scalar(select(func.count(Invitation.id))) or 0)


def test_nowait__lost_race__busy_at_once_without_retrying(
    services: Services, demo: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[int] = []
    real = InviteService._issue

    def racing(self: InviteService, *args: Any) -> None:
        attempts.append(1)
        real(self, *args)
        raise IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed"))

    monkeypatch.setattr(InviteService, "_issue", racing)
    started = time.monotonic()
    with pytest.raises(WriterBusy):
        resend(services, demo, nowait=True)

    assert attempts == [1]  # one attempt, no pause on the caller's thread
    assert time.monotonic() - started < 0.5
    assert invitations(services) == 0  # rolled back


def test_waiting_resend__retries_a_lost_race(
    services: Services, demo: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[int] = []
    real = InviteService._issue

    def racing_once(self: InviteService, *args: Any) -> None:
        attempts.append(1)
        real(self, *args)
        if len(attempts) == 1:
            raise IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed"))

    monkeypatch.setattr(InviteService, "_issue", racing_once)
    resend(services, demo, nowait=False)

    assert attempts == [1, 1]
    assert invitations(services) == 1
