"""The ASGI adapter: HTTP in, `MockEngine.handle`, HTTP out (plus delay, reload and proxying).

It decides nothing about answers. It owns only what a server must: reading the body, waiting
`delay_ms`, swapping the engine when the contract file changes, and the upstream client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import anyio.to_thread

from authsvc.contract import Contract, ContractError, load_contract
from authsvc.mock.engine import MockEngine
from authsvc.mock.model import MockOptions, MockRequest, MockResponse

if TYPE_CHECKING:
    import httpx

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
log = logging.getLogger("authsvc.mock")


class MockApp:
    """An ASGI application serving one contract."""

    def __init__(
        self,
        contract: Contract,
        options: MockOptions | None = None,
        *,
        proxy: str | None = None,
        watch: bool = False,
    ) -> None:
        self.options = options or MockOptions()
        self.engine = MockEngine(contract, self.options)
        self.proxy = proxy
        self._watch = watch and contract.path is not None
        self._client: httpx.AsyncClient | None = None  # only with --proxy
        self._watcher: asyncio.Task[None] | None = None
        self._encoded_headers = _EncodedHeaders()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            request = await _read_request(scope, receive)
            response = await self.respond(request)
            headers = self._encoded_headers(response)
            await send(
                {"type": "http.response.start", "status": response.status, "headers": headers}
            )
            await send({"type": "http.response.body", "body": response.body})

    async def respond(self, request: MockRequest) -> MockResponse:
        """The engine's answer (or the upstream's, when proxying), after its delay."""
        if self.proxy:
            import httpx  # only a proxying mock pays for the HTTP client

            from authsvc.mock.proxy import forward

            self._client = self._client or httpx.AsyncClient(timeout=30.0)
            response = await forward(
                self._client, self.proxy, self.engine, request, errors=self.options.errors
            )
        elif self.options.jwt is not None and self.options.jwt.may_block:
            # As the service's bearer check: a JWKS refresh waits on the network, not the loop.
            response = await anyio.to_thread.run_sync(self.engine.handle, request)
        else:
            response = self.engine.handle(request)
        if response.delay_ms:
            await asyncio.sleep(response.delay_ms / 1000)
        return response

    def reload(self) -> bool:
        """Re-read the contract; on a bad contract keep serving the old one and log one line."""
        path = self.engine.contract.path
        if path is None:
            return False
        try:
            contract = load_contract(path)
        except ContractError as exc:
            log.error("contract not reloaded: %s", exc)
            return False
        self.engine = MockEngine(contract, self.options)
        log.info("contract reloaded: %s (%d routes)", path, len(self.engine.routes()))
        return True

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self._watch:
                    self._watcher = asyncio.create_task(self._watch_contract())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._watcher is not None:
                    self._watcher.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await self._watcher
                if self._client is not None:
                    await self._client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _watch_contract(self) -> None:
        from watchfiles import awatch  # imported here: only a watching server needs it

        path = self.engine.contract.path
        assert path is not None
        async for _changes in awatch(path.parent, watch_filter=lambda _c, p: Path(p) == path):
            self.reload()


def create_app(
    spec: str | Path | Contract,
    options: MockOptions | None = None,
    *,
    proxy: str | None = None,
    watch: bool = False,
) -> MockApp:
    """An ASGI app mocking `spec` (a path or a loaded Contract)."""
    contract = spec if isinstance(spec, Contract) else load_contract(spec)
    return MockApp(contract, options, proxy=proxy, watch=watch)


async def _read_request(scope: Scope, receive: Receive) -> MockRequest:
    message = await receive()
    body = message.get("body", b"")
    if message.get("more_body"):
        chunks = [body]
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
    raw_path = scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else quote(scope["path"])
    return MockRequest.build(
        scope["method"],
        path.split("?", 1)[0],
        query=scope.get("query_string", b"").decode("latin-1"),
        headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]],
        body=body,
    )


class _EncodedHeaders:
    """Response headers as ASGI bytes, remembered: the same few header sets recur."""

    _MAX_ENTRIES = 256

    def __init__(self) -> None:
        self._memo: dict[tuple[tuple[str, str], ...], tuple[list[tuple[bytes, bytes]], bool]] = {}

    def __call__(self, response: MockResponse) -> list[tuple[bytes, bytes]]:
        found = self._memo.get(response.headers)
        if found is None:
            if len(self._memo) >= self._MAX_ENTRIES:
                self._memo.clear()
            encoded = [
                (k.lower().encode("latin-1"), v.encode("latin-1", "replace"))
                for k, v in response.headers
            ]
            found = (encoded, any(k == b"content-length" for k, _ in encoded))
            self._memo[response.headers] = found
        encoded, has_length = found
        if has_length or response.status in (204, 304):
            return list(encoded)
        return [*encoded, (b"content-length", b"%d" % len(response.body))]
