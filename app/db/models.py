"""The domain tables: customers, users, invitations, the mail outbox, the audit trail, throttles."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Connection,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    insert,
    text,
)
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import DeclarativeBase, Mapped, Mapper, mapped_column, relationship

from authsvc.db.types import UTCDateTime, utcnow


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime}


class UserStatus(enum.StrEnum):
    INVITED = "INVITED"
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"


class OutboxStatus(enum.StrEnum):
    PENDING = "PENDING"
    SENT = "SENT"
    FAILED = "FAILED"  # gave up after the configured number of attempts


# The permissions a subrole may grant (see docs/contract.md, Authorization).
USERS_READ = "users:read"
USERS_WRITE = "users:write"
USERS_RESEND_INVITE = "users:resend-invite"


@dataclass(frozen=True, slots=True)
class SubroleTemplate:
    """A subrole every customer starts with (the published examples' admin, cro, risk_analyst)."""

    code: str
    label: str
    description: str
    permissions: tuple[str, ...]


DEFAULT_SUBROLES: tuple[SubroleTemplate, ...] = (
    SubroleTemplate(
        "admin",
        "Admin",
        "Manages the customer's users",
        (USERS_READ, USERS_WRITE, USERS_RESEND_INVITE),
    ),
    SubroleTemplate("cro", "CRO", "Chief risk officer: reads the customer's users", (USERS_READ,)),
    SubroleTemplate("risk_analyst", "Risk Analyst", "Reads the customer's users", (USERS_READ,)),
)


def normalize_email(address: str) -> str:
    """The form in which e-mail addresses are compared: trimmed and lower-cased."""
    return address.strip().lower()


# Between the folded fields of `search_folded`: a control character, which no search term may
# contain (the contract's pattern), so a term never matches across two fields.
SEARCH_FIELD_SEPARATOR = "\x1f"


def search_folded(email: str, first_name: str, last_name: str) -> str:
    """What a user search matches against: e-mail and names folded by Unicode `casefold()`.

    Folded once when written, so SQLite and PostgreSQL answer a search alike (SQLite's `lower()`
    and `LIKE` fold ASCII only); accents are kept, so a search is accent-sensitive.
    """
    return SEARCH_FIELD_SEPARATOR.join(part.casefold() for part in (email, first_name, last_name))


def _search_folded_default(context: DefaultExecutionContext) -> str:
    parameters = context.get_current_parameters()  # type: ignore[no-untyped-call]
    return search_folded(
        str(parameters["email"]),
        str(parameters.get("first_name") or ""),
        str(parameters.get("last_name") or ""),
    )


def _normalized_email_default(context: DefaultExecutionContext) -> str:
    # Inserts that give only `email` (demo data, tests, older code) still get the compared form.
    parameters = context.get_current_parameters()  # type: ignore[no-untyped-call]
    return normalize_email(str(parameters["email"]))


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    contact_number: Mapped[str | None] = mapped_column(String(32), default=None)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(default=utcnow, onupdate=utcnow)

    users: Mapped[list[User]] = relationship(back_populates="customer")


class Subrole(Base):
    """A role within one customer; its `permissions` decide what its users may do."""

    __tablename__ = "subroles"
    __table_args__ = (UniqueConstraint("customer_id", "code", name="uq_subroles_customer_code"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"))
    code: Mapped[str] = mapped_column(String(50))
    label: Mapped[str] = mapped_column(String(100))
    display_name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    # The published `role_id`: the numeric id of the parent role (2: customer user).
    role_id: Mapped[int] = mapped_column(Integer, default=2)
    permissions: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        # One account per address within a customer, whatever the concurrency or the spelling.
        UniqueConstraint("customer_id", "email_normalized", name="uq_users_customer_email"),
        # E-mail is the sign-in identifier, so an address belongs to one user of one customer.
        UniqueConstraint("email_normalized", name="uq_users_email_normalized"),
        # The list's filter and order (authsvc.services.read_users): a page is read in index
        # order and from the index alone, not by sorting all of the customer's users.
        Index("ix_users_customer_created", "customer_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    email_normalized: Mapped[str] = mapped_column(String(320), default=_normalized_email_default)
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    # Kept by every write of the three fields (authsvc.services.write_users); read by search.
    search_folded: Mapped[str] = mapped_column(
        Text, default=_search_folded_default, server_default=""
    )
    mobile: Mapped[str | None] = mapped_column(String(32), default=None)
    # None: no subrole, so no permissions.
    subrole_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("subroles.id"), default=None, index=True
    )
    status: Mapped[UserStatus] = mapped_column(
        Enum(UserStatus, native_enum=False, length=16), default=UserStatus.INVITED
    )
    is_email_verified: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    is_first_login: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    # Only ever set by the database's operators: no operation grants it.
    is_platform_admin: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)  # Argon2id
    # Bearer tokens without a session (another issuer's) issued before this are refused: set on
    # deactivation and password reset (the service's own tokens end with their session).
    tokens_valid_after: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(default=None)

    customer: Mapped[Customer] = relationship(back_populates="users")
    subrole: Mapped[Subrole | None] = relationship()


class SignInSession(Base):
    """One sign-in (accept, sign-in or reset) and every token issued from it (`sid` claim).

    Live while `ended_at` is null and both `expires_at` (absolute) and `idle_expires_at` are
    ahead; every bearer naming it is checked against this row on each request.
    """

    __tablename__ = "sessions"
    __table_args__ = (Index("ix_sessions_user", "user_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]  # absolute: created_at + AUTHSVC_SESSION_ABSOLUTE_SECONDS
    # last_used_at + AUTHSVC_SESSION_IDLE_SECONDS (never past expires_at), moved on each refresh
    idle_expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    # logout, refresh_reuse, password_reset, deactivated, idle, absolute
    end_reason: Mapped[str | None] = mapped_column(String(32), default=None)


class RefreshToken(Base):
    """An opaque refresh token of one session; only its SHA-256 is stored.

    Rotation: a token that was used has `rotated_at` set and its successor is the next row of the
    session (`parent_id`); using it again is reuse (see authsvc.services.refresh_session).
    """

    __tablename__ = "refresh_tokens"
    __table_args__ = (
        Index("ix_refresh_tokens_user", "user_id"),
        Index("ix_refresh_tokens_session", "session_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    # Null only for tokens issued before sessions existed (all revoked by migration 0003).
    session_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sessions.id"), default=None)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    rotated_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class Invitation(Base):
    """An invite link; only the SHA-256 of its token is stored, never the token itself."""

    __tablename__ = "invitations"
    __table_args__ = (
        Index("ix_invitations_user_created", "user_id", "created_at"),
        # At most one pending invitation per user, whatever the concurrency: the database
        # enforces it, the service's row lock only makes the race polite.
        Index(
            "uq_invitations_one_pending_per_user",
            "user_id",
            unique=True,
            sqlite_where=text("revoked_at IS NULL AND accepted_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL AND accepted_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    accepted_at: Mapped[datetime | None] = mapped_column(default=None)


class PasswordReset(Base):
    """A reset-password link; only the SHA-256 of its token is stored, never the token itself.

    Usable while none of `used_at`, `revoked_at` is set and `expires_at` is ahead; a newer request
    revokes the user's earlier links, and a reset uses its link up.
    """

    __tablename__ = "password_resets"
    __table_args__ = (Index("ix_password_resets_user", "user_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class OutboxMessage(Base):
    """An e-mail waiting for (or done with) delivery; written in the same transaction as its cause."""

    __tablename__ = "mail_outbox"
    __table_args__ = (Index("ix_mail_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # Stable across retries so a receiving server (and our tests) can spot a duplicate.
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(50))  # the template that renders it at delivery
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    # Never the rendered mail (its link is a live credential): the template's parameters and its
    # token sealed with a key kept outside the database, scrubbed once settled (authsvc.mail).
    template_params: Mapped[dict[str, str] | None] = mapped_column(JSON, default=None)
    sealed_token: Mapped[str | None] = mapped_column(Text, default=None)
    status: Mapped[OutboxStatus] = mapped_column(
        Enum(OutboxStatus, native_enum=False, length=16), default=OutboxStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    leased_until: Mapped[datetime | None] = mapped_column(default=None)
    lease_owner: Mapped[str | None] = mapped_column(String(100), default=None)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_user", "user_id", "occurred_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    user_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    outcome: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The X-Request-ID of the request that caused the event (None outside a request).
    request_id: Mapped[str | None] = mapped_column(String(128), default=None)


class ThrottleEvent(Base):
    """One counted event of a throttled key (authsvc.services.throttle): an attempt, a mail sent.

    `key_digest` is the SHA-256 of the key (a client address, a user or customer id, later an
    e-mail address), so the table holds no address in the clear. Rows are deleted once past
    `expires_at`, a few at a time by every new event.
    """

    __tablename__ = "throttle_events"
    __table_args__ = (
        Index("ix_throttle_events_key", "scope", "key_digest", "at"),
        Index("ix_throttle_events_expires", "expires_at"),
    )

    # 64-bit on PostgreSQL (a busy limiter outgrows 32 bits); SQLite's rowid is 64-bit anyway.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    scope: Mapped[str] = mapped_column(String(64))
    key_digest: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    expires_at: Mapped[datetime]


# The same tables for Core statements on the hot path, where rows are written or read without an
# ORM identity (`Model.__table__` is this Table at runtime, but mypy sees only a FromClause).
customers_table = Base.metadata.tables[Customer.__tablename__]
users_table = Base.metadata.tables[User.__tablename__]
invitations_table = Base.metadata.tables[Invitation.__tablename__]
outbox_table = Base.metadata.tables[OutboxMessage.__tablename__]
audit_events_table = Base.metadata.tables[AuditEvent.__tablename__]
subroles_table = Base.metadata.tables[Subrole.__tablename__]
refresh_tokens_table = Base.metadata.tables[RefreshToken.__tablename__]
sessions_table = Base.metadata.tables[SignInSession.__tablename__]
password_resets_table = Base.metadata.tables[PasswordReset.__tablename__]
throttle_events_table = Base.metadata.tables[ThrottleEvent.__tablename__]


def default_subrole_rows(customer_id: uuid.UUID) -> list[dict[str, Any]]:
    """The rows of `DEFAULT_SUBROLES` for one customer, ready for a Core insert."""
    now = utcnow()
    return [
        {
            "id": uuid.uuid4(),
            "customer_id": customer_id,
            "code": template.code,
            "label": template.label,
            "display_name": template.label,
            "description": template.description,
            "role_id": 2,
            "permissions": list(template.permissions),
            "created_at": now,
        }
        for template in DEFAULT_SUBROLES
    ]


@event.listens_for(Customer, "after_insert")
def _seed_subroles(_mapper: Mapper[Customer], connection: Connection, target: Customer) -> None:
    """Every customer created through the ORM starts with the default subroles, in its transaction."""
    connection.execute(insert(subroles_table), default_subrole_rows(target.id))
