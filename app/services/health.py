"""Health: is the database answering?"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text


@dataclass(frozen=True)
class HealthService:
    engine: Engine

    def database_answers(self, connection: Connection) -> bool:
        """A unit of work (authsvc.db.runner): True once a trivial query succeeds."""
        connection.execute(text("SELECT 1"))
        return True
