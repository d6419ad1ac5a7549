"""The ASGI adapter: HTTP in, `MockEngine.handle`, HTTP out (plus delay, reload and proxying).

It decides nothing about answers. It owns only what a server must: reading the body, waiting
`delay_ms`, swapping the engine when the contract file changes, and the upstream client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import anyio.to_thread

from authsvc.contract import Contract, ContractError, load_contract
from authsvc.mock.engine.model import MockOptions, MockRequest, MockResponse
from authsvc.mock.engine.pipeline import MockEngine

if TYPE_CHECKING:
    import httpx

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
log = logging.getLogger("authsvc.mock")
RELOAD_TIMEOUT_S = 30.0


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

            from authsvc.mock.serve.proxy import forward

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
        return self._swap(path, _load_engine(path, self.options))

    async def reload_in_background(self, timeout: float = RELOAD_TIMEOUT_S) -> bool:
        """`reload`, tried first in a child process, then done in a daemon thread.

        A hostile edit (an alias bomb, a cycle the loader does not catch) must neither stop the
        server from answering nor keep it from exiting. So the new contract is first loaded in
        a child process with capped memory and `timeout` seconds (killed past them, and on
        shutdown); only a contract that loaded there is loaded again here, in a daemon thread,
        while the loop keeps serving. Any failure is one logged line, and the old contract stays.
        """
        path = self.engine.contract.path
        if path is None:
            return False
        started = time.monotonic()
        problem = await _trial_load(path, timeout)
        if problem is not None:
            return self._swap(path, problem)
        timeout = max(timeout - (time.monotonic() - started), 1.0)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[MockEngine | str] = loop.create_future()

        def settle(result: MockEngine | str) -> None:
            if not done.done():
                done.set_result(result)

        def work() -> None:
            result = _load_engine(path, self.options)
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits
                loop.call_soon_threadsafe(settle, result)

        threading.Thread(target=work, name="authsvc-mock-reload", daemon=True).start()
        try:
            result = await asyncio.wait_for(done, timeout)
        except TimeoutError:
            result = f"{path}: loading took longer than {timeout:g} s"
        return self._swap(path, result)

    def _swap(self, path: Path, result: MockEngine | str) -> bool:
        if isinstance(result, str):
            log.error("contract not reloaded: %s", result)
            return False
        self.engine = result
        log.info("contract reloaded: %s (%d routes)", path, len(result.routes()))
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
        while True:
            try:
                async for _changes in awatch(
                    path.parent, watch_filter=lambda _c, p: Path(p) == path
                ):
                    await self.reload_in_background()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the watcher must outlive anything an edit can do
                log.error("contract watcher restarted: %s", _one_line(exc))
                await asyncio.sleep(0.5)


# Run by the trial load's child process: exit 0 if the contract can be served, else print why.
_TRIAL = """
import resource, sys
from pathlib import Path
limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from authsvc.mock.engine.model import MockOptions
from authsvc.mock.serve.server import _load_engine
result = _load_engine(Path(sys.argv[1]), MockOptions())
if isinstance(result, str):
    print(result)
    sys.exit(3)
"""
TRIAL_MEMORY_BYTES = 4 * 1024**3


async def _trial_load(path: Path, timeout: float) -> str | None:
    """None if the contract at `path` loads in a child process within limits, else why not."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _TRIAL, str(path), str(TRIAL_MEMORY_BYTES),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        out, _ = await asyncio.wait_for(child.communicate(), timeout)
    except TimeoutError:
        return f"{path}: /: loading took longer than {timeout:g} s"
    finally:
        if child.returncode is None:  # timed out, or the server is stopping: never wait for it
            with contextlib.suppress(ProcessLookupError):
                child.kill()
            with contextlib.suppress(Exception):
                await asyncio.shield(child.wait())
    if child.returncode == 0:
        return None
    reason = _one_line(out.decode(errors="replace"))
    if (child.returncode or 0) < 0 or not reason:  # killed by a signal, or out of memory
        reason = (
            f"{path}: /: the contract could not be loaded within limits (exit {child.returncode})"
        )
    return reason


def _load_engine(path: Path, options: MockOptions) -> MockEngine | str:
    """An engine for the contract at `path`, or the one-line reason it cannot be served."""
    try:
        return MockEngine(load_contract(path), options)
    except ContractError as exc:
        return f"{exc.source}: {exc.pointer or '/'}: {_one_line(exc.message)}"
    except (RecursionError, MemoryError) as exc:
        return f"{path}: /: the contract nests too deeply to load ({type(exc).__name__})"
    except Exception as exc:  # whatever an edit can provoke, the last good contract stays
        return f"{path}: /: {type(exc).__name__}: {_one_line(exc)}"


def _one_line(value: object) -> str:
    lines = str(value).splitlines()
    return lines[0] if lines else ""


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
    client = scope.get("client")
    return MockRequest.build(
        scope["method"],
        path.split("?", 1)[0],
        query=scope.get("query_string", b"").decode("latin-1"),
        headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]],
        body=body,
        client=str(client[0]) if client else None,
        scheme=str(scope.get("scheme") or "http"),
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
