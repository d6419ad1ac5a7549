"""Health: is the database answering?"""

from __future__ import annotations

from sqlalchemy import Connection, text


def database_answers(connection: Connection) -> bool:
    """A unit of work (authsvc.db.runner): True once a trivial query succeeds."""
    connection.execute(text("SELECT 1"))
    return True
