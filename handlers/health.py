"""Operations tagged `Operations` (openapi/operations.yaml)."""

from __future__ import annotations

from app.services.container import Services


def healthz(*, services: Services) -> tuple[dict[str, str], int]:
    """GET /healthz: 200 when the database answers, 503 otherwise."""
    if services.health.database_reachable():
        return {"status": "ok", "database": "ok"}, 200
    return {"status": "unavailable", "database": "unreachable"}, 503
