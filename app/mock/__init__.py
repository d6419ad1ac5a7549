"""A Prism-compatible mock of any OpenAPI 3.0/3.1 contract: one engine, two adapters.

`MockEngine.handle(MockRequest) -> MockResponse` decides everything; `create_app` serves it over
ASGI and `mock_router` answers httpx calls in-process through respx.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from authsvc.mock.engine.model import MockOptions, MockRequest, MockResponse, Violation
    from authsvc.mock.engine.pipeline import MockEngine
    from authsvc.mock.serve.router import mock_router
    from authsvc.mock.serve.server import MockApp, create_app

# Everything is imported on first use: the server never needs respx, a respx user never needs the
# ASGI server, `authsvc mock` starts faster without either, and the pytest plugin (loaded before
# coverage starts) must not pull the engine in early.
_LAZY = {
    "MockEngine": "authsvc.mock.engine.pipeline",
    "MockOptions": "authsvc.mock.engine.model",
    "MockRequest": "authsvc.mock.engine.model",
    "MockResponse": "authsvc.mock.engine.model",
    "Violation": "authsvc.mock.engine.model",
    "mock_router": "authsvc.mock.serve.router",
    "MockApp": "authsvc.mock.serve.server",
    "create_app": "authsvc.mock.serve.server",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'authsvc.mock' has no attribute {name!r}")


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
