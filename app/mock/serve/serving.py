"""How `authsvc mock` runs under uvicorn: settings, and one socket write per answer.

uvicorn writes the status line and headers, then the body, as two `transport.write` calls; with
uvloop each is its own `send()` and its own TCP segment. `CoalescingTransport` holds what a
connection writes during one event-loop step and sends it together at the end of that step (or at
once on close), so an answer leaves in one segment. Bytes and their order are unchanged.
"""

from __future__ import annotations

import asyncio
from typing import Any


class CoalescingTransport(asyncio.Transport):
    """A transport that joins the writes of one event-loop step into one write."""

    __slots__ = ("_closed", "_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closed:  # after close() the transport itself decides, as before
            self._transport.write(data)
            return
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def _flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending) if len(self._pending) > 1 else self._pending[0]
            self._pending = []
            self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._closed = True
        self._transport.close()

    def abort(self) -> None:
        self._pending = []
        self._closed = True
        self._transport.abort()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._pending))

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()


def http_protocol() -> type[asyncio.Protocol] | str:
    """uvicorn's httptools protocol writing through a CoalescingTransport ("auto" without it)."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # uvicorn without httptools: leave the choice to uvicorn
        return "auto"

    class CoalescingHttpToolsProtocol(HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(CoalescingTransport(transport, self.loop))

    return CoalescingHttpToolsProtocol


def uvicorn_options(*, log_level: str = "warning") -> dict[str, Any]:
    """uvicorn settings of `authsvc mock` (the tests serve with them too)."""
    return {
        "http": http_protocol(),
        "log_level": log_level,
        # Nothing below `warning` is printed, so uvicorn need not format an access line per
        # request only to drop it: the mock prints no access log, now as before (docs/mock.md).
        "access_log": False,
        "lifespan": "on",
        # No X-Forwarded-* rewriting (a mock has no proxy in front to trust, and it costs every
        # request) and no `server` header (Prism sends none).
        "proxy_headers": False,
        "server_header": False,
    }
