"""Health: is the database answering?"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from authsvc.db.engine import ping


@dataclass(frozen=True)
class HealthService:
    engine: Engine

    def database_reachable(self) -> bool:
        """True when a trivial query succeeds within the engine's bounded timeout."""
        return ping(self.engine)
