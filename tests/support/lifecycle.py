"""Helpers for the lifecycle API tests: paths, bearer headers, rows read straight from the database."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from authsvc.db.models import Invitation, OutboxMessage, Subrole, User
from authsvc.services.container import Services

BASE = "/auth/api/v1"
GOOD_PASSWORD = "Corr3ct-Horse-Battery"
LINK = re.compile(r"/invite/([A-Za-z0-9_\-]+)")

LIST = "users.list_customer_users"
CREATE = "users.create_customer_user"
GET = "users.get_customer_user"
PATCH = "users.update_customer_user"
SUBROLES = "subroles.list_customer_subroles"
ACCEPT = "invitations.accept_invitation"
RESEND = "customers.resend_invite"


def users_url(customer_id: Any, user_id: Any = None) -> str:
    url = f"{BASE}/customers/{customer_id}/users"
    return url if user_id is None else f"{url}/{user_id}"


def accept_url(token: str) -> str:
    return f"{BASE}/invite/{token}/accept"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def db(services: Services) -> Session:
    return Session(services.engine)


def subrole_id(services: Services, customer_id: Any, code: str) -> str:
    with db(services) as session:
        found = session.scalars(
            select(Subrole.id).where(
                Subrole.customer_id == uuid.UUID(str(customer_id)), Subrole.code == code
            )
        ).one()
        return str(found)


def new_user_body(services: Services, customer_id: Any, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "first_name": "Dana",
        "last_name": "Analyst",
        "email": "dana.analyst@example.com",
        "subrole": {
            "id": subrole_id(services, customer_id, "risk_analyst"),
            "code": "risk_analyst",
            "label": "Risk Analyst",
        },
    }
    body.update(overrides)
    return body


def user_row(services: Services, user_id: Any) -> User:
    with db(services) as session:
        return session.get_one(User, uuid.UUID(str(user_id)))


def invitations_of(services: Services, user_id: Any) -> list[Invitation]:
    with db(services) as session:
        return list(
            session.scalars(
                select(Invitation)
                .where(Invitation.user_id == uuid.UUID(str(user_id)))
                .order_by(Invitation.created_at)
            )
        )


def mail_to(services: Services, recipient: str) -> list[OutboxMessage]:
    with db(services) as session:
        return list(
            session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == recipient))
        )


def invite_token_in(message: OutboxMessage) -> str:
    """The token of the invite link in a queued (not yet delivered) message."""
    assert message.body_text is not None
    (token,) = LINK.findall(message.body_text)
    return str(token)
