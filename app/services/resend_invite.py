"""Resend an invitation: the rules of who may, when, and what happens in one transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    ScalarSelect,
    bindparam,
    select,
)

from authsvc.config import Settings
from authsvc.db.models import (
    UserStatus,
    customers_table,
    invitations_table,
    users_table,
)
from authsvc.db.types import utcnow
from authsvc.errors import (
    AuthServiceError,
    Forbidden,
    NotFound,
    RateLimited,
    UserAlreadyOnboarded,
)
from authsvc.security.policy import may_resend_invite
from authsvc.security.principal import Principal
from authsvc.services.audit import record_event
from authsvc.services.authorization import load_caller
from authsvc.services.invitations import issue_invitation
from authsvc.services.limits import invitation_mail_wait

ACTION = "invite.resend"

# Core statements on the tables, built once. The request reads a few columns and writes rows it
# never reads back, so the ORM's identity map and unit of work were pure overhead, and building
# and cache-keying expressions per request cost more than executing them (the measurement is in
# bench/results/2026-12-04-docstring-figures.md).
_users = users_table
_customers = customers_table
_invitations = invitations_table


def _user_column(column: str) -> ScalarSelect[Any]:
    return (
        select(_users.c[column])
        .where(
            _users.c.id == bindparam("user_id"), _users.c.customer_id == bindparam("customer_id")
        )
        .scalar_subquery()
    )


# Everything the checks read, in one round trip (each statement costs far more in SQLAlchemy's
# Python than in SQLite): a single row, NULL where a row does not exist.
_FACTS = select(
    select(_customers.c.name)
    .where(_customers.c.id == bindparam("customer_id"))
    .scalar_subquery()
    .label("customer_name"),
    _user_column("status").label("user_status"),
    _user_column("email").label("email"),
    _user_column("first_name").label("first_name"),
)
# PostgreSQL: concurrent resends for one user queue on this row lock before reading the facts.
# SQLite needs no statement: the write connection already holds the database lock (BEGIN
# IMMEDIATE), and SQLAlchemy renders no FOR UPDATE there.
_LOCK_USER = (
    select(_users.c.id)
    .where(_users.c.id == bindparam("user_id"), _users.c.customer_id == bindparam("customer_id"))
    .with_for_update()
)


@dataclass(frozen=True, slots=True)
class _Invitee:
    """Who the new invitation goes to, as `_admissible` read it."""

    email: str
    first_name: str
    customer_name: str


def resend_invite(
    connection: Connection,
    *,
    settings: Settings,
    principal: Principal,
    customer_id: uuid.UUID,
    user_id: uuid.UUID,
) -> AuthServiceError | None:
    """Revoke pending invites, issue a new one and queue its mail; or return why not.

    A unit of work (authsvc.db.runner): it runs inside the caller's write transaction, which
    commits whatever it returns. A refusal is audited in that same transaction and returned, not
    raised, so the audit commits: every check runs before the first write.
    """
    refusal: AuthServiceError | None = None
    now = utcnow()
    try:
        invitee = _admissible(connection, settings, principal, customer_id, user_id, now)
    except AuthServiceError as refused:
        refusal = refused  # raised before any write: the transaction holds only the audit
    else:
        _issue(connection, settings, principal, customer_id, user_id, invitee, now)
    record_event(
        connection,
        actor=principal.subject,
        action=ACTION,
        outcome="success" if refusal is None else type(refusal).__name__,
        customer_id=customer_id,
        user_id=user_id,
    )
    return refusal


def _admissible(
    connection: Connection,
    settings: Settings,
    principal: Principal,
    customer_id: uuid.UUID,
    user_id: uuid.UUID,
    now: datetime,
) -> _Invitee:
    """The facts of an allowed resend, or the refusal; reads only, so a refusal writes nothing."""
    # The order of the checks is the contract's: 401, 403, 404, 409, then 429. The caller
    # comes from the database (authsvc.services.authorization), never from the claims.
    caller = load_caller(connection, principal)
    if not may_resend_invite(caller, customer_id):
        raise Forbidden()
    if connection.dialect.name != "sqlite":
        # Only an authorized caller ever takes the user's row lock.
        connection.execute(_LOCK_USER, {"user_id": user_id, "customer_id": customer_id})
    facts = connection.execute(_FACTS, {"customer_id": customer_id, "user_id": user_id}).one()
    if facts.customer_name is None:
        raise NotFound("Customer not found")
    if facts.user_status is None:
        raise NotFound("User not found for this customer")
    if facts.user_status != UserStatus.INVITED:
        raise UserAlreadyOnboarded()
    # The invitation mails of this user (the resend limit) and of the customer: the throttle.
    wait = invitation_mail_wait(
        connection, settings, customer_id=customer_id, user_id=user_id, now=now
    )
    if wait:
        raise RateLimited(retry_after_seconds=wait)
    return _Invitee(facts.email, facts.first_name or "", facts.customer_name)


def _issue(
    connection: Connection,
    settings: Settings,
    principal: Principal,
    customer_id: uuid.UUID,
    user_id: uuid.UUID,
    invitee: _Invitee,
    now: datetime,
) -> None:
    """The writes of an allowed resend; refuses nothing (see `_admissible`)."""
    issue_invitation(
        connection,
        settings,
        created_by=principal.subject,
        customer_id=customer_id,
        user_id=user_id,
        email=invitee.email,
        first_name=invitee.first_name,
        customer_name=invitee.customer_name,
        now=now,
    )
