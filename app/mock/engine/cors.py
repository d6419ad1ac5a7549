"""CORS as Prism does it: permissive on every answer, and preflights answered before routing."""

from __future__ import annotations

from authsvc.mock.engine.model import MockRequest, MockResponse


def cors_headers(request: MockRequest) -> tuple[tuple[str, str], ...]:
    """Echo the Origin (or `*`) and the requested headers, so any browser client may call."""
    headers = request.headers
    return (
        ("access-control-allow-origin", headers.get("origin") or "*"),
        ("access-control-allow-headers", headers.get("access-control-request-headers") or "*"),
        ("access-control-allow-credentials", "true"),
        ("access-control-expose-headers", headers.get("access-control-expose-headers") or "*"),
    )


def preflight(request: MockRequest) -> MockResponse | None:
    """The 204 for an OPTIONS preflight (Origin and Access-Control-Request-Method), else None."""
    method = request.headers.get("access-control-request-method")
    if request.method != "OPTIONS" or not request.headers.get("origin") or not method:
        return None
    return MockResponse(
        204,
        (
            *cors_headers(request),
            ("access-control-allow-methods", method),
            ("vary", "origin"),
            ("content-length", "0"),
        ),
    )
