"""pytest fixtures for client test suites: the contract mock in one line.

    def test_resend(authsvc_mock, client):      # the project's contract at its server URL
        ...
    def test_other(contract_mock):
        contract_mock("openapi/other.yaml", dynamic=True, seed=1)

Registered through the `pytest11` entry point; importing it starts nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # pytest loads this plugin before coverage starts: import the project lazily
    import respx

    from authsvc.contract import Contract


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "authsvc_mock_spec",
        "OpenAPI document the `authsvc_mock` fixture serves (default: the Auth Service contract)",
        default="",
    )


@pytest.fixture
def contract_mock() -> Iterator[Callable[..., respx.MockRouter]]:
    """Start a mock router for any contract; every router started is stopped after the test."""
    from authsvc.mock.serve.router import mock_router  # deferred: collecting tests must stay cheap

    started: list[respx.MockRouter] = []

    def start(spec: str | Path | Contract, **options: Any) -> respx.MockRouter:
        router = mock_router(spec, **options)
        router.start()
        started.append(router)
        return router

    yield start
    for router in reversed(started):
        router.stop()


@pytest.fixture
def authsvc_mock(
    request: pytest.FixtureRequest, contract_mock: Callable[..., respx.MockRouter]
) -> respx.MockRouter:
    """The mock of `authsvc_mock_spec` (or the Auth Service contract), started for this test."""
    configured = str(request.config.getini("authsvc_mock_spec") or "")
    from authsvc.contract import default_contract_path

    spec = Path(request.config.rootpath, configured) if configured else default_contract_path()
    return contract_mock(spec)
