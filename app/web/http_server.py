"""The HTTP server's own limits: head and body size, head timeout, idle keep-alive, connection cap.

uvicorn's httptools protocol bounds none of these: a 120 MB header is parsed (in quadratic time,
httptools concatenates each piece), a socket that never sends stays open, and sockets pile up to the
file-descriptor limit, and a body of any size is handed to the app. `limited_protocol` returns a subclass that enforces them before a request
reaches the app, the way nginx does (`large_client_header_buffers`, `client_header_timeout`,
`worker_connections`, `client_max_body_size`). Every answer it writes is one of the envelopes of
`authsvc.errors`; the statuses that the contract does not list (408, 413, 414, 431, 503) are the
README's HTTP-level exceptions.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import sys
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from authsvc.errors import AuthServiceError, ConfigError, FailError, RequestValidationError
from authsvc.web.http_errors import envelope

logger = logging.getLogger("authsvc.http")

# Descriptors the process needs besides client sockets: the listener, the database pool, SQLite's
# WAL files, log files, the SMTP connection, Python's own. Generous on purpose.
RESERVED_FILE_DESCRIPTORS = 128
# After an answer that ends a connection early: how long, and how much, to read before closing.
LINGER_SECONDS = 1.0
LINGER_MAX_BYTES = 1024 * 1024
# asyncio accepts up to `backlog` connections in one go before any of them is seen (and refused):
# uvicorn's 2048 would let a burst take that many descriptors at once.
ACCEPT_BACKLOG = 128


class RequestTimeout(FailError):
    status = 408
    error_code = "REQUEST_TIMEOUT"
    error_name = "HttpLimitError"
    default_message = "The request did not arrive in time"


class PayloadTooLarge(FailError):
    status = 413
    error_code = "PAYLOAD_TOO_LARGE"
    error_name = "HttpLimitError"
    default_message = "The request body is too large"


class UriTooLong(FailError):
    status = 414
    error_code = "URI_TOO_LONG"
    error_name = "HttpLimitError"
    default_message = "The request line is too long"


class HeadersTooLarge(FailError):
    status = 431
    error_code = "HEADERS_TOO_LARGE"
    error_name = "HttpLimitError"
    default_message = "The request headers are too large"


class AtConnectionLimit(AuthServiceError):
    status = 503
    error_code = "ERR_SERVICE_UNAVAILABLE"
    default_message = "Service Unavailable"

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """The limits one server enforces; `authsvc.config.Settings.http_limits` builds them."""

    max_request_line_bytes: int = 8 * 1024
    max_header_bytes: int = 8 * 1024
    max_headers_bytes: int = 64 * 1024
    header_timeout_seconds: float = 10.0
    keepalive_timeout_seconds: float = 5.0
    max_connections: int = 512
    max_body_bytes: int = 1024 * 1024
    # Refused connections get their 503 and a moment to read it; beyond this many at once, they are
    # closed without an answer, so a flood never holds more descriptors than this.
    max_refusing: int = 64

    @property
    def file_descriptors_needed(self) -> int:
        return self.max_connections + self.max_refusing + ACCEPT_BACKLOG + RESERVED_FILE_DESCRIPTORS


def ensure_file_descriptors(limits: HttpLimits) -> None:
    """Raise the soft descriptor limit if the cap needs it; `ConfigError` if the hard one is lower.

    With the cap below the limit, `accept()` never runs out of descriptors (which makes asyncio log a
    traceback per pending connection, many times a second).
    """
    needed = limits.file_descriptors_needed
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise ConfigError(
            f"AUTHSVC_HTTP_MAX_CONNECTIONS: {limits.max_connections} connections need {needed} "
            f"file descriptors, the process may open {hard} (ulimit -n)"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def _answer(error: AuthServiceError) -> bytes:
    body = envelope(error)
    lines = [
        STATUS_LINE[error.status],
        b"content-type: application/json\r\n",
        b"content-length: %d\r\n" % len(body),
        b"connection: close\r\n",
    ]
    lines += [
        f"{name.lower()}: {value}\r\n".encode("latin-1") for name, value in error.headers().items()
    ]
    return b"".join([*lines, b"\r\n", body])


class _Refuse(Exception):
    """Raised inside a parser callback: answer `error` and close."""

    def __init__(self, error: AuthServiceError) -> None:
        super().__init__(error.status)
        self.error = error


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with `limits` enforced per connection."""

    limits: ClassVar[HttpLimits] = HttpLimits()
    refusing: ClassVar[int] = 0  # connections currently being refused (class-wide: one server)

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._head_bytes = 0  # bytes received since the current request head began
        self._in_head = True  # waiting for (the rest of) a request head
        self._started = False  # some byte of the current request arrived
        self._url_bytes = 0
        self._header_total = 0
        self._body_bytes = 0
        self._request_timer: asyncio.TimerHandle | None = None
        self._admitted = False  # counted in the server's connections (not refused at the door)
        self._counted_refusal = False
        self._draining = False  # answered and half-closed: what arrives now is read and dropped
        self._deferred: AuthServiceError | None = None  # a refusal waiting for an earlier answer
        self._drained = 0

    # Connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.limits.max_connections:
            self._refuse_connection(transport)
            return
        super().connection_made(transport)
        self._admitted = True
        self._arm_request_timer()

    def _refuse_connection(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self._draining = True
        cls = type(self)
        if cls.refusing >= self.limits.max_refusing:
            transport.abort()
            return
        cls.refusing += 1
        self._counted_refusal = True
        transport.write(_answer(AtConnectionLimit()))
        self._linger()

    def _linger(self) -> None:
        """Half-close, then drain what the client still sends until it closes (for a second at most).

        Closing with a request unread makes the kernel reset the connection, which can destroy the
        answer before the client reads it (nginx's lingering close, for the same reason).
        """
        self._draining = True
        self._cancel_request_timer()
        try:
            self.transport.write_eof()
        except OSError:  # the client is already gone
            self.transport.abort()
            return
        self._request_timer = self.loop.call_later(LINGER_SECONDS, self.transport.abort)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_request_timer()
        if self._counted_refusal:
            type(self).refusing -= 1
            self._counted_refusal = False
        if self._admitted:
            super().connection_lost(exc)

    # Data

    def data_received(self, data: bytes) -> None:
        if self._draining:  # never parsed
            self._drained += len(data)
            if self._drained > LINGER_MAX_BYTES:
                self.transport.abort()
            return
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        # An unterminated head: the per-header checks run only once a header is complete.
        if (
            self._in_head
            and not self._draining
            and not self.transport.is_closing()
            and self._head_bytes
            > self.limits.max_request_line_bytes + self.limits.max_headers_bytes
        ):
            self._send_and_close(
                UriTooLong() if self._url_bytes and not self.headers else HeadersTooLarge()
            )

    def send_400_response(self, msg: str) -> None:
        # uvicorn answers a parser error in text/plain; the parser error may be one of our refusals.
        refusal = self._pending_refusal()
        self._send_and_close(refusal or RequestValidationError())

    def _pending_refusal(self) -> AuthServiceError | None:
        # httptools raises HttpParserCallbackError with our exception as its context.
        exc = sys.exc_info()[1]
        while exc is not None:
            if isinstance(exc, _Refuse):
                return exc.error
            exc = exc.__context__  # type: ignore[assignment]
        return None

    def _send_and_close(self, error: AuthServiceError) -> None:
        if self._draining:
            return  # answered already
        self._cancel_request_timer()
        # uvicorn keeps the last cycle after its answer: on a keep-alive connection that one is
        # an earlier request's, answered, and the refusal is this request's to send.
        cycle = self.cycle if self.cycle is not None and not self.cycle.response_complete else None
        if cycle is not None:
            if self._in_head:
                # The cycle is an earlier request's, still being answered (pipelining): read no
                # more, and answer this one once that answer is out (on_response_complete).
                self._deferred = error
                self._draining = True
                self.flow.pause_reading()
                return
            # The app may be reading the body: tell it the client is gone, and keep its answer out.
            cycle.disconnected = True
            cycle.message_event.set()
        if self.transport.is_closing():
            return
        if cycle is None or not cycle.response_started:
            self.transport.write(_answer(error))
            self._linger()
        else:
            self.transport.close()

    # Parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._started = True
        if self._request_timer is None:  # a pipelined request: its own 10 s from its first byte
            self._arm_request_timer()
        self._url_bytes = 0
        self._header_total = 0

    def on_url(self, url: bytes) -> None:
        self._url_bytes += len(url)
        if self._url_bytes > self.limits.max_request_line_bytes:
            raise _Refuse(UriTooLong())
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        size = len(name) + len(value) + 4  # "name: value\r\n" less one byte of slack
        self._header_total += size
        if (
            size > self.limits.max_header_bytes
            or self._header_total > self.limits.max_headers_bytes
        ):
            raise _Refuse(HeadersTooLarge())
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        # Before the app is started (by uvicorn's on_headers_complete) and before any body byte is
        # read: a declared length over the limit is refused on its word.
        length = next((v for k, v in self.headers if k == b"content-length"), b"")
        if length.isdigit() and int(length) > self.limits.max_body_bytes:
            raise _Refuse(PayloadTooLarge())
        self._in_head = False
        self._head_bytes = 0
        self._body_bytes = 0
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self._draining:
            return
        # A chunked body declares no length: refused as soon as it passes the limit.
        self._body_bytes += len(body)
        if self._body_bytes > self.limits.max_body_bytes:
            if self.cycle.response_complete:
                # Answered without its body (a 401, say): no second answer (`_send_and_close`
                # sends none while draining); the refusal only stops the parser.
                self._linger()
            raise _Refuse(PayloadTooLarge())
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._cancel_request_timer()
        self._started = False
        super().on_message_complete()

    def on_response_complete(self) -> None:
        if self._deferred is not None:
            self.server_state.total_requests += 1
            self._draining = False
            self.cycle = None  # type: ignore[assignment]  # answered: what is left is the refusal
            self.flow.resume_reading()
            self._send_and_close(self._deferred)
            return
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:
            self._in_head = True
            self._head_bytes = 0
            self._arm_request_timer()

    # The request timer: from the moment a request is awaited until it has fully arrived.

    def _arm_request_timer(self) -> None:
        self._cancel_request_timer()
        self._request_timer = self.loop.call_later(
            self.limits.header_timeout_seconds, self._request_timed_out
        )

    def _cancel_request_timer(self) -> None:
        if self._request_timer is not None:
            self._request_timer.cancel()
            self._request_timer = None

    def _request_timed_out(self) -> None:
        self._request_timer = None
        if self.transport.is_closing():
            return
        if self._started:
            self._send_and_close(RequestTimeout())
        else:
            self.transport.close()  # nothing asked, nothing to answer (as nginx does)


def limited_protocol(limits: HttpLimits) -> type[LimitedHttpToolsProtocol]:
    """A protocol class bound to `limits`, for `uvicorn.Config(http=...)`."""
    return type("LimitedHttpToolsProtocol", (LimitedHttpToolsProtocol,), {"limits": limits})


class _OncePer(logging.Filter):
    """Let a given asyncio message through at most once per `seconds`, without its traceback."""

    def __init__(self, message: str, seconds: float) -> None:
        super().__init__()
        self._message = message
        self._seconds = seconds
        self._last = -seconds
        self._dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith(self._message):
            return True
        now = time.monotonic()
        if now - self._last < self._seconds:
            self._dropped += 1
            return False
        record.exc_info = None
        record.exc_text = None
        if self._dropped:
            record.msg = f"{record.msg} ({self._dropped} more since the last report)"
        self._last, self._dropped = now, 0
        return True


def quiet_accept_errors(seconds: float = 10.0) -> None:
    """`accept()` out of descriptors: one line per `seconds`, not a traceback per connection."""
    logging.getLogger("asyncio").addFilter(
        _OncePer("socket.accept() out of system resource", seconds)
    )


def uvicorn_config(app: Any, *, host: str, port: int, limits: HttpLimits, **options: Any) -> Config:
    """A uvicorn Config that serves `app` with `limits` enforced (and nothing else changed)."""
    # uvicorn types the keep-alive as int; call_later takes the float as is.
    keepalive: Any = limits.keepalive_timeout_seconds
    return Config(
        app,
        host=host,
        port=port,
        http=limited_protocol(limits),
        timeout_keep_alive=keepalive,
        backlog=ACCEPT_BACKLOG,
        # uvicorn trusts X-Forwarded-For from 127.0.0.1 by default; the app decides whom to trust
        # (AUTHSVC_TRUSTED_PROXIES, authsvc.web.client_address), under any server.
        proxy_headers=False,
        **options,
    )


__all__ = [
    "AtConnectionLimit",
    "HeadersTooLarge",
    "HttpLimits",
    "LimitedHttpToolsProtocol",
    "PayloadTooLarge",
    "RequestTimeout",
    "UriTooLong",
    "ensure_file_descriptors",
    "limited_protocol",
    "quiet_accept_errors",
    "uvicorn_config",
]
