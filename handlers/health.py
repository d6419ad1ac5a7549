"""Operations tagged `Operations` (openapi/operations.yaml)."""

from __future__ import annotations

from authsvc.services.container import Services


async def healthz(*, services: Services) -> tuple[dict[str, str], int]:
    """GET /healthz: 200 when the database answers within the deadline, 503 otherwise."""
    if await services.database_reachable():
        return {"status": "ok", "database": "ok"}, 200
    return {"status": "unavailable", "database": "unreachable"}, 503
