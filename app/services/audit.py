"""The audit trail: who did what to whom, and how it ended."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.db.models import AuditEvent

logger = logging.getLogger("authsvc.audit")


def record_event(
    session: Session,
    *,
    actor: str,
    action: str,
    outcome: str,
    customer_id: uuid.UUID | None = None,
    user_id: uuid.UUID | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Add an audit event to the caller's transaction."""
    session.add(
        AuditEvent(
            actor=actor,
            action=action,
            outcome=outcome,
            customer_id=customer_id,
            user_id=user_id,
            detail=detail or {},
        )
    )


def record_event_now(sessions: sessionmaker[Session], **event: Any) -> None:
    """Record a refused attempt in its own transaction; an audit failure never changes the answer."""
    try:
        with sessions.begin() as session:
            record_event(session, **event)
    except Exception:
        logger.warning(
            "could not record audit event %s/%s", event.get("action"), event.get("outcome")
        )
