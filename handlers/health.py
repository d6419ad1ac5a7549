"""Operations tagged `Operations` (openapi/operations.yaml)."""

from __future__ import annotations

from authsvc.errors import ServiceUnavailable
from authsvc.services.container import Services


async def healthz(*, services: Services) -> tuple[dict[str, str], int]:
    """GET /healthz: 200 when the database answers within the deadline, 503 otherwise."""
    try:
        reachable = await services.within_deadline(
            lambda _deadline: services.health.database_reachable()
        )
    except ServiceUnavailable:
        reachable = False
    if reachable:
        return {"status": "ok", "database": "ok"}, 200
    return {"status": "unavailable", "database": "unreachable"}, 503
