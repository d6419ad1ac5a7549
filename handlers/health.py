"""Operations tagged `Operations` (openapi/operations.yaml)."""

from __future__ import annotations

from authsvc.services.container import Services


async def healthz(*, services: Services) -> tuple[dict[str, str], int]:
    """GET /healthz: 200 when the database answers within the deadline, 503 otherwise."""
    if await services.database_reachable():
        return {"status": "ok", "database": "ok"}, 200
    return {"status": "unavailable", "database": "unreachable"}, 503


async def readyz(*, services: Services) -> tuple[dict[str, str], int]:
    """GET /readyz: 200 when the database answers at the expected migration with the key loaded."""
    readiness = await services.readiness()
    return readiness, 200 if readiness["status"] == "ready" else 503


async def metrics(*, services: Services) -> tuple[str, int]:
    """GET /metrics (the edge has already refused addresses outside AUTHSVC_METRICS_ALLOW).

    `text/plain` is Prometheus' text format (version 0.0.4 is what a scraper assumes without a
    `version` parameter); Connexion sets the documented media type.
    """
    return (await services.metrics()).decode(), 200
