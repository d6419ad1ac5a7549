"""Demo data for the embedded default: two customers, their admins and users, a platform admin.

IDs are fixed (UUIDv5 of a name) so the printed curl example and `authsvc demo --json` stay valid
across restarts; seeding is idempotent.
"""

from __future__ import annotations

import uuid
from typing import Final

from sqlalchemy.orm import Session, sessionmaker

from authsvc.db.models import Customer, User, UserStatus

_NAMESPACE = uuid.UUID("6f1c3f8e-2f47-4a8e-9a55-6b0a7f0c2d11")


def demo_id(name: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, name)


class DemoIds:
    """The fixed IDs of the demo rows."""

    customer_id: Final[uuid.UUID] = demo_id("customer:acme")
    other_customer_id: Final[uuid.UUID] = demo_id("customer:globex")
    platform_customer_id: Final[uuid.UUID] = demo_id("customer:platform")
    admin_user_id: Final[uuid.UUID] = demo_id("user:acme-admin")
    member_user_id: Final[uuid.UUID] = demo_id("user:acme-member")
    invited_user_id: Final[uuid.UUID] = demo_id("user:acme-invited")
    active_user_id: Final[uuid.UUID] = demo_id("user:acme-active")
    other_admin_user_id: Final[uuid.UUID] = demo_id("user:globex-admin")
    other_invited_user_id: Final[uuid.UUID] = demo_id("user:globex-invited")
    platform_admin_user_id: Final[uuid.UUID] = demo_id("user:platform-admin")


DEMO = DemoIds()


def seed_demo_data(sessions: sessionmaker[Session]) -> DemoIds:
    """Insert the demo rows that are missing (idempotent)."""
    customers = [
        (DEMO.customer_id, "Acme Corp"),
        (DEMO.other_customer_id, "Globex"),
        (DEMO.platform_customer_id, "Platform operators"),
    ]
    users = [
        (DEMO.admin_user_id, DEMO.customer_id, "ada.admin", "Ada", "admin", UserStatus.ACTIVE),
        (DEMO.member_user_id, DEMO.customer_id, "max.member", "Max", "member", UserStatus.ACTIVE),
        (
            DEMO.invited_user_id,
            DEMO.customer_id,
            "ivy.invited",
            "Ivy",
            "member",
            UserStatus.INVITED,
        ),
        (DEMO.active_user_id, DEMO.customer_id, "abe.active", "Abe", "member", UserStatus.ACTIVE),
        (
            DEMO.other_admin_user_id,
            DEMO.other_customer_id,
            "gus.admin",
            "Gus",
            "admin",
            UserStatus.ACTIVE,
        ),
        (
            DEMO.other_invited_user_id,
            DEMO.other_customer_id,
            "gia.invited",
            "Gia",
            "member",
            UserStatus.INVITED,
        ),
        (
            DEMO.platform_admin_user_id,
            DEMO.platform_customer_id,
            "pat.platform",
            "Pat",
            "platform-admin",
            UserStatus.ACTIVE,
        ),
    ]
    with sessions.begin() as session:
        for customer_id, name in customers:
            if session.get(Customer, customer_id) is None:
                session.add(Customer(id=customer_id, name=name))
        session.flush()
        for user_id, customer_id, local, first, subrole, status in users:
            if session.get(User, user_id) is None:
                session.add(
                    User(
                        id=user_id,
                        customer_id=customer_id,
                        email=f"{local}@example.com",
                        first_name=first,
                        last_name="Demo",
                        subrole=subrole,
                        status=status,
                    )
                )
    return DEMO
