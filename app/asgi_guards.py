"""ASGI guards that answer before routing, in the contract's envelope."""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

from authsvc.errors import RequestValidationError
from authsvc.http_errors import render

# Starlette's route patterns never match control characters, so a path carrying one (e.g. a %0A in
# an ID) would fall through to an undocumented 404. It is malformed input: answer the documented 400.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ControlCharacterGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _CONTROL.search(scope.get("path", "")):
            await render(RequestValidationError())(scope, receive, send)
            return
        await self.app(scope, receive, send)
