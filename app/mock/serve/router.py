"""The respx adapter: answer httpx requests in-process from the same engine as the server.

Requests to `<base_url>/customers/...` are handed to the engine as `/customers/...`, so a client
test sees exactly what the mock server (and Prism) would answer at its root.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import respx

from authsvc.contract import Contract, load_contract, server_url
from authsvc.mock.engine.model import MockOptions, MockRequest, MockResponse
from authsvc.mock.engine.pipeline import MockEngine

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
    headers = _ResponseHeaders()

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
        # What `httpx.Response(..., content=body)` builds, with the headers made once per set.
        return httpx.Response(
            answer.status, headers=headers(answer), stream=httpx.ByteStream(answer.body)
        )

    # respx asks every call whether the side effect wants a `route` argument; a ready signature
    # (PEP 362) answers that without rebuilding it from the code object each time.
    respond.__signature__ = inspect.signature(respond)  # type: ignore[attr-defined]
    router.route(name="contract").mock(side_effect=respond)
    return router


class _ResponseHeaders:
    """httpx headers for an answer, remembered per header set and body length (bounded)."""

    _MAX_ENTRIES = 256

    def __init__(self) -> None:
        self._memo: dict[tuple[tuple[tuple[str, str], ...], int], httpx.Headers] = {}

    def __call__(self, answer: MockResponse) -> httpx.Headers:
        key = (answer.headers, len(answer.body))
        found = self._memo.get(key)
        if found is None:
            if len(self._memo) >= self._MAX_ENTRIES:
                self._memo.clear()
            found = httpx.Headers(list(answer.headers))
            if answer.body:  # as httpx does for `content=`: a length unless one is declared
                found.setdefault("Content-Length", str(len(answer.body)))
            self._memo[key] = found
        return found  # httpx.Response copies it


def default_base_url(contract: Contract) -> str:
    """The first server URL with its variables' defaults; relative URLs hang off a fake host."""
    url = server_url(contract.servers[0])
    return url if urlsplit(url).scheme else DEFAULT_BASE_URL + url
