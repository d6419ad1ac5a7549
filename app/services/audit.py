"""The audit trail: who did what to whom, and how it ended, under which request id."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Connection, insert

from authsvc import request_id
from authsvc.db.models import audit_events_table
from authsvc.db.types import utcnow

_INSERT_EVENT = insert(audit_events_table)  # built once, like every statement on the hot path


def record_event(
    connection: Connection,
    *,
    actor: str,
    action: str,
    outcome: str,
    customer_id: uuid.UUID | None = None,
    user_id: uuid.UUID | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Add an audit event to the caller's transaction."""
    connection.execute(
        _INSERT_EVENT,
        {
            "id": uuid.uuid4(),
            "occurred_at": utcnow(),
            "actor": actor,
            "action": action,
            "outcome": outcome,
            "customer_id": customer_id,
            "user_id": user_id,
            "detail": detail or {},
            # The request's id, read from the context the database runner carried into this
            # thread (authsvc.request_id); None for work outside a request.
            "request_id": request_id.current.get(),
        },
    )
