"""The client's address, which handlers receive as `client_address` (the throttle keys by it).

It is the peer's address, unless the peer is one of `AUTHSVC_TRUSTED_PROXIES` (IPs or CIDR
networks; none by default): then `X-Forwarded-For` names the client, read from the right, and the
first hop that is not a trusted proxy is the client (what a trusted proxy appended is true; what
the client sent to it is not). The header walk is uvicorn's own ProxyHeadersMiddleware, the
well-kept implementation of exactly this rule; uvicorn's server-level copy of it, which trusts
127.0.0.1 by default, is turned off (authsvc.web.http_server), so the service's setting is the only
one, under any server and in tests.

The address reaches a handler as Connexion hands over `token_info`: through the request's
Connexion context, for any handler that declares a `client_address` parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

CONTEXT_KEY = "client_address"
# No peer address at all (a Unix socket): one shared key, never an exemption.
UNKNOWN = "unknown"


class ClientAddress:
    """ASGI middleware: put the client's address in the Connexion context of every request."""

    def __init__(self, app: ASGIApp, *, trusted_proxies: Sequence[str] = ()) -> None:
        self._app = app
        # uvicorn types its middleware with its own ASGI aliases; the two describe the same calls.
        self._through_proxies: Any = (
            ProxyHeadersMiddleware(self._with_address, trusted_hosts=list(trusted_proxies))  # type: ignore[arg-type]
            if trusted_proxies
            else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
        elif self._through_proxies is not None:
            await self._through_proxies(scope, receive, send)
        else:
            await self._with_address(scope, receive, send)

    async def _with_address(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("extensions", {}).setdefault("connexion_context", {})[CONTEXT_KEY] = (
            client_address(scope)
        )
        await self._app(scope, receive, send)


def client_address(scope: Scope) -> str:
    """The (possibly proxy-rewritten) peer host of `scope`, or `UNKNOWN`."""
    client = scope.get("client")
    return str(client[0]) if client and client[0] else UNKNOWN
