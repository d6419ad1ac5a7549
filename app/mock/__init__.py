"""A Prism-compatible mock of any OpenAPI 3.0/3.1 contract: one engine, two adapters.

`MockEngine.handle(MockRequest) -> MockResponse` decides everything; `create_app` serves it over
ASGI and `mock_router` answers httpx calls in-process through respx.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.mock.engine import MockEngine
    from app.mock.model import MockOptions, MockRequest, MockResponse, Violation
    from app.mock.router import mock_router
    from app.mock.server import MockApp, create_app

# Everything is imported on first use: the server never needs respx, a respx user never needs the
# ASGI server, `authsvc mock` starts faster without either, and the pytest plugin (loaded before
# coverage starts) must not pull the engine in early.
_LAZY = {
    "MockEngine": "app.mock.engine",
    "MockOptions": "app.mock.model",
    "MockRequest": "app.mock.model",
    "MockResponse": "app.mock.model",
    "Violation": "app.mock.model",
    "mock_router": "app.mock.router",
    "MockApp": "app.mock.server",
    "create_app": "app.mock.server",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'app.mock' has no attribute {name!r}")


__all__ = [
    "MockApp",
    "MockEngine",
    "MockOptions",
    "MockRequest",
    "MockResponse",
    "Violation",
    "create_app",
    "mock_router",
]
