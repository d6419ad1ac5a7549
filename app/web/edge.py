"""The outermost layer of the app: request id, CORS, the metrics allowlist, timing and access log.

Every request passes here first and every answer last, whoever wrote it (a handler, Connexion's
security or validation, the request guard, an error handler), so that each one gets its
`X-Request-ID` and, for an allowed origin, its CORS headers, and is timed and logged once. Two
answers are given here, before routing and authentication: the `204` to a CORS preflight
(`authsvc.web.cors`), and the documented `404` to `GET /metrics` from an address outside
`AUTHSVC_METRICS_ALLOW`.

Timings are labelled with the operationId Connexion's router found: the router writes it into the
scope's `extensions`, a dict this layer creates so that it is shared with the router's copy of the
scope.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authsvc import metrics, request_id
from authsvc.errors import NotFound
from authsvc.web.cors import CorsPolicy, is_preflight
from authsvc.web.http_errors import render

access_log = logging.getLogger("authsvc.access")
METRICS_PATH = "/metrics"
# Probes run every few seconds: their lines are DEBUG so that they do not drown the traffic.
QUIET_OPERATIONS = frozenset({"health.healthz", "health.readyz", "health.metrics"})
NetworkList = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]


@dataclass(frozen=True, slots=True)
class EdgeOptions:
    cors: CorsPolicy = field(default_factory=CorsPolicy)
    metrics_allow: NetworkList = (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )


def client_allowed(client: tuple[str, int] | None, networks: NetworkList) -> bool:
    """True when the connection's peer address is in one of `networks`."""
    if not client:
        return False
    try:
        address = ipaddress.ip_address(client[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


def _first(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in headers:
        if key == name:
            return value
    return None


class Edge:
    """ASGI middleware; see the module docstring."""

    def __init__(self, app: ASGIApp, options: EdgeOptions | None = None) -> None:
        self.app = app
        self.options = options or EdgeOptions()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = scope.get("headers") or ()
        rid = request_id.from_headers(headers)
        token = request_id.current.set(rid)
        origin = _first(headers, b"origin")
        cors = self.options.cors
        added = [(b"x-request-id", rid.encode()), *cors.answer_headers(origin)]
        status = 500  # if the app fails before answering, uvicorn's last-resort 500 is what goes
        operation = "none"

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", ()), *added]
            await send(message)

        try:
            if is_preflight(scope["method"], headers):
                operation = "preflight"
                added = [
                    (b"x-request-id", rid.encode()),
                    *cors.preflight_headers(
                        origin,
                        _first(headers, b"access-control-request-method") or b"",
                        _first(headers, b"access-control-request-headers"),
                    ),
                ]
                await send_with_headers(
                    {"type": "http.response.start", "status": 204, "headers": []}
                )
                await send({"type": "http.response.body", "body": b""})
                return
            if scope.get("path") == METRICS_PATH and not client_allowed(
                scope.get("client"), self.options.metrics_allow
            ):
                await render(NotFound())(scope, receive, send_with_headers)
                return
            scope.setdefault("extensions", {})
            await self.app(scope, receive, send_with_headers)
            routing = scope["extensions"].get("connexion_routing") or {}
            operation = routing.get("operation_id") or "none"
        finally:
            seconds = time.perf_counter() - started
            metrics.observe_request(operation, status, seconds)
            access_log.log(
                logging.DEBUG if operation in QUIET_OPERATIONS else logging.INFO,
                "%s %s %d %.1fms",
                scope["method"],
                operation,
                status,
                seconds * 1000,
                extra={
                    "method": scope["method"],
                    "operation_id": operation,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                },
            )
            request_id.current.reset(token)
