"""The ASGI guard that answers before routing, in the contract's envelope."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authsvc.contract import Contract
from authsvc.errors import AuthServiceError, MethodNotAllowed, NotFound, RequestValidationError
from authsvc.web.http_errors import allowed_methods, documented_methods, render

# Starlette's route patterns never match control characters, so a path carrying one (e.g. a %0A in
# an ID) would fall through to an undocumented 404. It is malformed input: answer the documented 400.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class RequestGuard:
    """Refuse what the router must never see, and keep Starlette's slash redirects out.

    * a control character in the path: the documented 400;
    * an HTTP/1.1 request without exactly one `Host` (RFC 9112, section 3.2), or HTTP/1.0 with
      several: 400;
    * more than one `Authorization` header: 400. Which one counts would be a matter of
      implementation, and a proxy that reads the last one would disagree with us (first wins here);
    * a path with a trailing slash that Starlette would redirect (307, with a `Location` built from
      the client's own `Host`): the contract's 404 for an unknown path instead;
    * HEAD on a path of `contracts` that documents no `head` operation: the 405 (with `Allow`) of
      any undocumented method. Starlette would answer it as a GET without a body, a 200 the
      contract does not describe.
    """

    def __init__(self, app: ASGIApp, contracts: Iterable[Contract] = ()) -> None:
        self.app = app
        self._routes = documented_methods(contracts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        error = _refusal(scope, path)
        if error is None and scope.get("method") == "HEAD":
            allowed = allowed_methods(self._routes, path)
            if allowed and "HEAD" not in allowed:
                error = MethodNotAllowed(allow=", ".join(sorted(allowed)))
        if error is not None:
            await render(error)(scope, receive, send)
            return
        if len(path) > 1 and path.endswith("/"):
            await self.app(scope, receive, _without_slash_redirect(scope, receive, send, path))
            return
        await self.app(scope, receive, send)


def _refusal(scope: Scope, path: str) -> AuthServiceError | None:
    if _CONTROL.search(path):
        return RequestValidationError()
    hosts = authorizations = 0
    for name, _value in scope.get("headers", ()):
        if name == b"host":
            hosts += 1
        elif name == b"authorization":
            authorizations += 1
    if hosts > 1 or (hosts == 0 and scope.get("http_version") == "1.1"):
        return RequestValidationError()
    if authorizations > 1:
        return RequestValidationError()
    return None


def _without_slash_redirect(scope: Scope, receive: Receive, send: Send, path: str) -> Send:
    """A `send` that turns the router's redirect to `path` minus its slash into the 404 envelope."""
    stripped = path.rstrip("/")
    replaced = False

    async def guarded(message: Message) -> None:
        nonlocal replaced
        if message["type"] == "http.response.start" and message["status"] in (307, 308):
            location = dict(message.get("headers", ())).get(b"location", b"").decode("latin-1")
            if urlsplit(location).path == stripped:
                replaced = True
                await render(NotFound())(scope, receive, send)
                return
        if replaced:  # the redirect's (empty) body: already answered
            return
        await send(message)

    return guarded
