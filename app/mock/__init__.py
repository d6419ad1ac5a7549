"""A Prism-compatible mock of any OpenAPI 3.0/3.1 contract: one engine, two adapters.

`MockEngine.handle(MockRequest) -> MockResponse` decides everything; `create_app` serves it over
ASGI and `mock_router` answers httpx calls in-process through respx.
"""

from app.mock.engine import MockEngine
from app.mock.model import MockOptions, MockRequest, MockResponse, Violation
from app.mock.router import mock_router
from app.mock.server import MockApp, create_app

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
