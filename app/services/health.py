"""Health: is the database answering, at the migration this code expects; what waits in the outbox."""

from __future__ import annotations

import functools
from datetime import datetime

from alembic.script.revision import RevisionError
from sqlalchemy import Connection, func, select, text

from authsvc.db.migrate import current_revision, head_revision, pending_revisions
from authsvc.db.models import OutboxStatus, outbox_table
from authsvc.db.types import utcnow
from authsvc.metrics import OutboxSnapshot

_BY_STATUS = select(outbox_table.c.status, func.count()).group_by(outbox_table.c.status)
_OLDEST_PENDING = select(func.min(outbox_table.c.created_at)).where(
    outbox_table.c.status == OutboxStatus.PENDING
)


@functools.cache
def expected_revision() -> str:
    """The migration this code expects (read from the shipped scripts once)."""
    return head_revision()


def database_answers(connection: Connection) -> bool:
    """A unit of work (authsvc.db.runner): True once a trivial query succeeds."""
    connection.execute(text("SELECT 1"))
    return True


def migrations(connection: Connection) -> str:
    """`current`, `behind` (upgrade needed) or `ahead` (newer code migrated it): a unit of work."""
    revision = current_revision(connection)
    if revision == expected_revision():
        return "current"
    try:
        pending_revisions(revision)
    except RevisionError:  # a revision this code does not know: newer code migrated it
        return "ahead"
    return "behind"


def outbox_snapshot(connection: Connection) -> OutboxSnapshot:
    """Messages by status and the age of the oldest pending one: a unit of work."""
    by_status = {str(status): int(count) for status, count in connection.execute(_BY_STATUS)}
    for status in OutboxStatus:
        by_status.setdefault(str(status), 0)
    oldest = connection.execute(_OLDEST_PENDING).scalar_one_or_none()
    age = 0.0
    if oldest is not None:
        if isinstance(oldest, str):
            oldest = datetime.fromisoformat(oldest)
        now = utcnow()
        if oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=now.tzinfo)
        age = max(0.0, (now - oldest).total_seconds())
    return OutboxSnapshot(by_status=by_status, oldest_pending_age_seconds=age)
