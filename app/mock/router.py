"""The respx adapter: answer httpx requests in-process from the same engine as the server.

Requests to `<base_url>/customers/...` are handed to the engine as `/customers/...`, so a client
test sees exactly what the mock server (and Prism) would answer at its root.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import httpx
import respx

from app.contract import Contract, load_contract
from app.mock.engine import MockEngine
from app.mock.model import MockOptions, MockRequest

DEFAULT_BASE_URL = "http://mock.local"


def mock_router(
    spec: str | Path | Contract,
    *,
    base_url: str | None = None,
    dynamic: bool = False,
    seed: str | int | None = None,
    options: MockOptions | None = None,
) -> respx.MockRouter:
    """A respx router (context manager or decorator) answering for the contract at `base_url`."""
    contract = spec if isinstance(spec, Contract) else load_contract(spec)
    options = options or MockOptions(dynamic=dynamic, seed=None if seed is None else str(seed))
    engine = MockEngine(contract, options)
    base = (base_url or default_base_url(contract)).rstrip("/")
    prefix = urlsplit(base).path.rstrip("/")
    router = respx.MockRouter(base_url=base, assert_all_called=False, assert_all_mocked=True)

    def respond(request: httpx.Request) -> httpx.Response:
        raw_path, _, query = request.url.raw_path.decode("ascii").partition("?")
        path = raw_path[len(prefix) :] if raw_path.startswith(prefix) else raw_path
        answer = engine.handle(
            MockRequest.build(
                request.method,
                path or "/",
                query=query,
                headers=request.headers.multi_items(),
                body=request.read(),
            )
        )
        return httpx.Response(answer.status, headers=list(answer.headers), content=answer.body)

    router.route(name="contract").mock(side_effect=respond)
    return router


def default_base_url(contract: Contract) -> str:
    """The first server URL with its variables' defaults; relative URLs hang off a fake host."""
    server = contract.servers[0]
    url = str(server.get("url", "/"))
    for name, variable in (server.get("variables") or {}).items():
        url = url.replace("{" + name + "}", str(variable.get("default", "")))
    return url if urlsplit(url).scheme else DEFAULT_BASE_URL + url
