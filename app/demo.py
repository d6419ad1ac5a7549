"""Demo data for the embedded default: two customers, their admins and users, a platform admin.

IDs are fixed (UUIDv5 of a name) so the printed curl example and `authsvc demo --json` stay valid
across restarts; seeding is idempotent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from authsvc.config import Settings
from authsvc.db.engine import create_db_engine, make_session_factory
from authsvc.db.models import Customer, Invitation, SignInSession, Subrole, User, UserStatus
from authsvc.db.types import utcnow
from authsvc.services.invitations import hash_invite_token

ACTIVE, INVITED = UserStatus.ACTIVE, UserStatus.INVITED
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
    # Invited too, with a pending invite `authsvc demo` prints (Ivy's invites are for resending).
    newcomer_user_id: Final[uuid.UUID] = demo_id("user:acme-newcomer")
    active_user_id: Final[uuid.UUID] = demo_id("user:acme-active")
    other_admin_user_id: Final[uuid.UUID] = demo_id("user:globex-admin")
    other_invited_user_id: Final[uuid.UUID] = demo_id("user:globex-invited")
    platform_admin_user_id: Final[uuid.UUID] = demo_id("user:platform-admin")


DEMO = DemoIds()


def seed_demo_data(sessions: sessionmaker[Session]) -> DemoIds:
    """Insert the demo rows that are missing (idempotent); customers get the default subroles."""
    customers = [
        (DEMO.customer_id, "Acme Corp"),
        (DEMO.other_customer_id, "Globex"),
        (DEMO.platform_customer_id, "Platform operators"),
    ]
    # (id, customer, e-mail local part, first name, subrole code, status, platform admin)
    users = [
        (DEMO.admin_user_id, DEMO.customer_id, "ada.admin", "Ada", "admin", ACTIVE, False),
        (DEMO.member_user_id, DEMO.customer_id, "max.member", "Max", "cro", ACTIVE, False),
        (
            DEMO.invited_user_id,
            DEMO.customer_id,
            "ivy.invited",
            "Ivy",
            "risk_analyst",
            INVITED,
            False,
        ),
        (DEMO.active_user_id, DEMO.customer_id, "abe.active", "Abe", "cro", ACTIVE, False),
        (DEMO.newcomer_user_id, DEMO.customer_id, "nia.newcomer", "Nia", "cro", INVITED, False),
        (
            DEMO.other_admin_user_id,
            DEMO.other_customer_id,
            "gus.admin",
            "Gus",
            "admin",
            ACTIVE,
            False,
        ),
        (
            DEMO.other_invited_user_id,
            DEMO.other_customer_id,
            "gia.invited",
            "Gia",
            "cro",
            INVITED,
            False,
        ),
        (
            DEMO.platform_admin_user_id,
            DEMO.platform_customer_id,
            "pat.platform",
            "Pat",
            "admin",
            ACTIVE,
            True,
        ),
    ]
    with sessions.begin() as session:
        for customer_id, name in customers:
            if session.get(Customer, customer_id) is None:
                session.add(Customer(id=customer_id, name=name))  # + subroles (models.py)
        session.flush()
        subroles = {(s.customer_id, s.code): s.id for s in session.scalars(select(Subrole))}
        for user_id, customer_id, local, first, code, status, platform in users:
            if session.get(User, user_id) is None:
                session.add(
                    User(
                        id=user_id,
                        customer_id=customer_id,
                        email=f"{local}@example.com",
                        first_name=first,
                        last_name="Demo",
                        subrole_id=subroles.get((customer_id, code)),
                        status=status,
                        is_email_verified=status is ACTIVE,
                        is_first_login=status is not ACTIVE,
                        is_platform_admin=platform,
                    )
                )
    return DEMO


DEMO_INVITER = "authsvc-demo"


def demo_invite_token(secret: bytes, invitation_id: uuid.UUID) -> str:
    """The invite token of a demo invitation, recomputable from its id and the data dir's dev key."""
    digest = hmac.new(secret, f"authsvc demo invite {invitation_id}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode("ascii")


def ensure_demo_invite(
    sessions: sessionmaker[Session], *, secret: bytes, ttl_seconds: int
) -> str | None:
    """A pending invite token for the demo newcomer, Nia (development only), or None.

    Reuses the demo's own pending invitation; makes one when the user has none pending (or it has
    expired). None once the user has accepted, or while a real invite (a resend) is pending: its
    token exists only in that e-mail.
    """
    now = utcnow()
    with sessions.begin() as session:
        user = session.get(User, DEMO.newcomer_user_id)
        if user is None or user.status is not INVITED:
            return None
        pending = session.scalars(
            select(Invitation).where(
                Invitation.user_id == user.id,
                Invitation.revoked_at.is_(None),
                Invitation.accepted_at.is_(None),
            )
        ).first()
        if pending is not None and pending.expires_at > now:
            if pending.created_by != DEMO_INVITER:
                return None
            return demo_invite_token(secret, pending.id)
        if pending is not None:
            pending.revoked_at = now
            session.flush()
        invitation_id = uuid.uuid4()
        token = demo_invite_token(secret, invitation_id)
        session.add(
            Invitation(
                id=invitation_id,
                user_id=user.id,
                customer_id=user.customer_id,
                token_hash=hash_invite_token(token),
                created_by=DEMO_INVITER,
                created_at=now,
                expires_at=now + timedelta(seconds=ttl_seconds),
            )
        )
        return token


def start_dev_sessions(
    database_url: str, user_ids: list[uuid.UUID], *, ttl_seconds: int
) -> dict[uuid.UUID, uuid.UUID]:
    """A session for each existing user of `user_ids`, living `ttl_seconds`: user -> session.

    What `authsvc demo` and `authsvc token` mint names one (`sid`), so a logout, a password reset
    or a deactivation ends it as it ends a signed-in user's. A user who does not exist gets none
    (the token is refused anyway, its subject being unknown).
    """
    engine = create_db_engine(database_url)
    try:
        with make_session_factory(engine, write=True).begin() as session:
            now = utcnow()
            expires_at = now + timedelta(seconds=ttl_seconds)
            found = set(session.scalars(select(User.id).where(User.id.in_(user_ids))))
            started = {user_id: uuid.uuid4() for user_id in user_ids if user_id in found}
            session.add_all(
                SignInSession(
                    id=session_id,
                    user_id=user_id,
                    created_at=now,
                    last_used_at=now,
                    expires_at=expires_at,
                    idle_expires_at=expires_at,
                )
                for user_id, session_id in started.items()
            )
            return started
    finally:
        engine.dispose()


def demo_admin_password(secret: bytes) -> str:
    """Ada's development-only password: derived from the data dir's dev key, so each install has
    its own; it meets the published rules (upper, lower, symbol, length)."""
    digest = hmac.new(secret, b"authsvc demo admin password", hashlib.sha256).digest()
    return "Dev-" + base64.urlsafe_b64encode(digest[:12]).decode("ascii").replace("-", "x") + "!a"


def ensure_demo_password(sessions: sessionmaker[Session], *, password: str) -> bool:
    """Give Ada the demo password unless she already has one (development only); True if set."""
    from authsvc.security.passwords import hash_password

    with sessions.begin() as session:
        user = session.get(User, DEMO.admin_user_id)
        if user is None or user.password_hash is not None:
            return False
        user.password_hash = hash_password(password)
        return True


def demo_lifecycle_info(settings: Settings, base_url: str) -> dict[str, str | None]:
    """`authsvc demo` keys for walking the invitation lifecycle: the demo invite, development only.

    `invite_token` is accepted at `accept_url` (POST, JSON body `{"password": ...}`); `invite_link`
    is the link an invite e-mail carries. All None outside development or once Nia has accepted.
    """
    from authsvc.mail.compose import accept_url as invite_link
    from authsvc.security.keys import load_or_create_dev_keys

    token = password = None
    if settings.environment == "development":
        engine = create_db_engine(settings.resolved_database_url)
        secret = load_or_create_dev_keys(settings.data_dir).private_pem
        try:
            token = ensure_demo_invite(
                make_session_factory(engine, write=True),
                secret=secret,
                ttl_seconds=settings.invite_ttl_seconds,
            )
            password = demo_admin_password(secret)
            ensure_demo_password(make_session_factory(engine, write=True), password=password)
        finally:
            engine.dispose()
    return {
        # Development only (None elsewhere), printed here and never logged: signs Ada in at
        # POST {base_url}/customer/sign-in unless her password was changed since.
        "admin_email": "ada.admin@example.com",
        "admin_password": password,
        "newcomer_user_id": str(DEMO.newcomer_user_id),
        "invite_token": token,
        "invite_link": invite_link(settings, token) if token else None,
        "accept_url": f"{base_url}/invite/{token}/accept" if token else None,
    }
