"""A resend that loses a race (the one-pending-invitation index) is retried and then commits."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from authsvc.db.models import Invitation
from authsvc.services import resend_invite
from authsvc.services.container import Services


def invitations(services: Services) -> int:
    with services.engine.connect() as connection:
        return int(connection.scalar(select(func.count(Invitation.id))) or 0)


def test_resend__retries_a_lost_race(
    services: Services, demo: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[int] = []
    real = resend_invite._issue

    def racing_once(*args: Any) -> None:
        attempts.append(1)
        real(*args)
        if len(attempts) == 1:
            raise IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed"))

    monkeypatch.setattr(resend_invite, "_issue", racing_once)
    refusal = services.writes.call(
        resend_invite.resend_invite,
        settings=services.settings,
        principal=services.authenticate(demo["admin_token"]),
        customer_id=uuid.UUID(demo["customer_id"]),
        user_id=uuid.UUID(demo["invited_user_id"]),
    )

    assert refusal is None
    assert attempts == [1, 1]
    assert invitations(services) == 1
