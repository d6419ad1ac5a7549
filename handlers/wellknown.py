"""GET /.well-known/jwks.json (operations contract, at the service's root)."""

from __future__ import annotations

from typing import Any

from authsvc.services.container import Services

# Keys change rarely and a client refetches on an unknown `kid`: five minutes is a fair staleness.
CACHE_CONTROL = "public, max-age=300"


def jwks(*, services: Services) -> tuple[dict[str, Any], int, dict[str, str]]:
    """The JWK Set of the service's signing key(s)."""
    return services.jwks(), 200, {"Cache-Control": CACHE_CONTROL}
