"""A live `authsvc serve` against hostile and clumsy HTTP clients, over real loopback sockets.

The probe of issue 10 as a permanent suite: oversized heads and URLs, unterminated heads, slowloris
sockets, idle keep-alive, the connection cap, a file-descriptor limit, requests without `Host` or
with two `Authorization` headers, trailing slashes and parser errors. Every answer is a documented
envelope (the contract's, or one of the README's HTTP-level exceptions), never a 5xx. Each test is
bounded in time and in sockets; the servers run with short timeouts so the suite stays quick.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.support import resend_path
from tests.support.processes import (
    Running,
    authsvc_bin,
    free_port,
    run_demo,
    running,
    service_env,
    stop,
    wait_for_http,
)

HEADER_TIMEOUT = 1.5
KEEPALIVE_TIMEOUT = 1.0
MAX_CONNECTIONS = 40
MAX_BODY = 64 * 1024
SETTINGS = {
    "AUTHSVC_HTTP_MAX_BODY_BYTES": str(MAX_BODY),
    "AUTHSVC_HTTP_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
    "AUTHSVC_HTTP_KEEPALIVE_TIMEOUT_SECONDS": str(KEEPALIVE_TIMEOUT),
    "AUTHSVC_HTTP_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
    "AUTHSVC_OUTBOX_POLL_SECONDS": "0.2",
}
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
ENVELOPE_4XX = {"status", "message", "errorCode", "data"}


@dataclass
class Service:
    running: Running
    port: int
    demo: dict[str, Any]

    @property
    def pid(self) -> int:
        return self.running.process.pid

    def connect(self, timeout: float = 5.0) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)


@dataclass
class Answer:
    raw: bytes
    closed: bool  # the server closed the connection (rather than our read timing out)

    @property
    def status(self) -> int:
        return int(self.raw.split(b" ", 2)[1])

    @property
    def headers(self) -> dict[str, str]:
        head = self.raw.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")[1:]
        return {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in head)}

    @property
    def body(self) -> Any:
        return json.loads(self.raw.split(b"\r\n\r\n", 1)[1])


def read_answer(sock: socket.socket, *, timeout: float = 5.0) -> Answer:
    """Everything the server sends until it closes the connection, or `timeout` of silence."""
    sock.settimeout(timeout)
    raw = b""
    try:
        while chunk := sock.recv(65536):
            raw += chunk
    except TimeoutError:
        return Answer(raw, closed=False)
    except ConnectionResetError:
        pass
    return Answer(raw, closed=True)


def exchange(service: Service, data: bytes, *, timeout: float = 5.0) -> Answer:
    """Send `data` (as much of it as the server reads), then read the answer."""
    with service.connect() as sock:
        with suppress(OSError):  # the server answered and stopped reading: the answer counts
            sock.sendall(data)
        return read_answer(sock, timeout=timeout)


def assert_envelope(answer: Answer, status: int) -> None:
    assert answer.raw, "no answer"
    assert answer.status == status, answer.raw[:300]
    assert answer.headers["content-type"] == "application/json"
    body = answer.body
    assert set(body) == (ENVELOPE_4XX if status < 500 else {"message", "errorCode"})
    assert answer.closed or status < 408


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@contextmanager
def serve(tmp_path: Path, settings: dict[str, str]) -> Iterator[Service]:
    port = free_port()
    data_dir = tmp_path / "data"
    args = ["serve", "--data-dir", str(data_dir), "--port", str(port)]
    with running(
        args, log_path=tmp_path / "serve.log", settings=settings, port=port, ready_path="/healthz"
    ) as live:
        demo = json.loads(run_demo(data_dir, live.base_url, settings))
        yield Service(live, port, demo)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with serve(tmp_path_factory.mktemp("hostile"), SETTINGS) as live:
        yield live


def resend_request(service: Service, *extra: bytes, path: str | None = None) -> bytes:
    path = path or resend_path(service.demo["customer_id"], service.demo["invited_user_id"])
    lines = [f"POST {path} HTTP/1.1".encode(), b"Host: t", b"Content-Length: 0", *extra]
    return b"\r\n".join([*lines, b"Connection: close", b"", b""])


def bearer(service: Service) -> bytes:
    return f"Authorization: Bearer {service.demo['admin_token']}".encode()


# Oversized requests


@pytest.mark.parametrize(
    "head",
    [
        b"X-Big: " + b"a" * 100_000 + b"\r\n",
        b"X-Big: " + b"a" * 9_000 + b"\r\n",
        b"".join(b"X-H%d: %s\r\n" % (i, b"a" * 1000) for i in range(80)),
        b"X-Big: " + b"a" * 3_000_000 + b"\r\n",
    ],
    ids=["one-100k-header", "one-9k-header", "80-headers-of-1k", "one-3mb-header"],
)
def test_huge_header__431_envelope(service: Service, head: bytes) -> None:
    answer = exchange(service, b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + head + b"\r\n")
    assert_envelope(answer, 431)
    assert answer.body["errorCode"] == "HEADERS_TOO_LARGE"


@pytest.mark.parametrize(
    "size",
    [9_000, 200_000, 3_000_000],
    ids=["9k", "200k", "3mb"],
)
def test_huge_url__414_envelope(service: Service, size: int) -> None:
    answer = exchange(service, b"GET /" + b"a" * size + b" HTTP/1.1\r\nHost: t\r\n\r\n")
    assert_envelope(answer, 414)
    assert answer.body["errorCode"] == "URI_TOO_LONG"


def test_pipelined_request_then_huge_header__first_answered_then_431(service: Service) -> None:
    first = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
    second = b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n"
    answer = exchange(service, first + second)
    assert answer.closed
    assert answer.raw.startswith(b"HTTP/1.1 200 ")
    refusal = Answer(answer.raw[answer.raw.index(b"HTTP/1.1 431 ") :], closed=True)
    assert_envelope(refusal, 431)


def accept_head(*extra: bytes) -> bytes:
    lines = [b"POST /auth/api/v1/invite/abc/accept HTTP/1.1", b"Host: t", *extra]
    return b"\r\n".join([*lines, b"Content-Type: application/json", b"", b""])


def assert_413(answer: Answer) -> None:
    assert_envelope(answer, 413)
    assert answer.body["errorCode"] == "PAYLOAD_TOO_LARGE"
    assert answer.headers["connection"] == "close"


@pytest.mark.parametrize(
    "length", [MAX_BODY + 1, 64 * 1024 * 1024, 2**40], ids=["limit+1", "64mb", "1tb"]
)
def test_declared_body_over_the_limit__413_before_a_byte_of_it_is_sent(
    service: Service, length: int
) -> None:
    answer = exchange(service, accept_head(b"Content-Length: %d" % length))
    assert_413(answer)


def test_chunked_body__413_as_soon_as_it_passes_the_limit(service: Service) -> None:
    chunk = b"a" * 4096
    with service.connect() as sock:
        sock.sendall(accept_head(b"Transfer-Encoding: chunked"))
        # One byte past the limit and no end: the answer cannot wait for the rest.
        with suppress(OSError):
            for _ in range(MAX_BODY // len(chunk)):
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sock.sendall(b"1\r\na\r\n")
        answer = read_answer(sock)
    assert_413(answer)


def chunked(body: bytes) -> bytes:
    return b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)


def test_chunked_body_within_the_limit__is_the_request_body(service: Service) -> None:
    user = f"/auth/api/v1/customers/{service.demo['customer_id']}/users/"
    user += service.demo["active_user_id"]
    head = b"\r\n".join(
        [
            b"PATCH %s HTTP/1.1" % user.encode(),
            b"Host: t",
            bearer(service),
            b"Content-Type: application/json",
            b"Transfer-Encoding: chunked",
            b"Connection: close",
            b"",
            b"",
        ]
    )
    patched = exchange(service, head + chunked(b'{"first_name": "Chunked"}'))
    assert patched.status == 200, patched.raw[:300]
    got = exchange(
        service,
        b"GET %s HTTP/1.1\r\nHost: t\r\n%s\r\nConnection: close\r\n\r\n"
        % (user.encode(), bearer(service)),
    )
    assert got.body["data"]["first_name"] == "Chunked"


def test_chunked_body_of_a_request_answered_first__no_second_answer_then_closed(
    service: Service,
) -> None:
    users = f"/auth/api/v1/customers/{service.demo['customer_id']}/users".encode()
    head = b"POST %s HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n" % users
    chunk = b"a" * 4096
    with service.connect() as sock:
        sock.sendall(head + b"Transfer-Encoding: chunked\r\n\r\n")  # and no token
        first = b""
        while not first.endswith(b"}"):  # the 401, sent before any of the body
            first += sock.recv(65536)
        with suppress(OSError):
            for _ in range(MAX_BODY // len(chunk) + 1):
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        rest = read_answer(sock)
    assert first.startswith(b"HTTP/1.1 401 ")
    assert rest.closed
    assert rest.raw == b""  # no 413 for a request already answered


def test_body_at_the_limit__reaches_the_app(service: Service) -> None:
    body = b'{"password": "x"}'.ljust(MAX_BODY)  # JSON may end in spaces
    answer = exchange(service, accept_head(b"Content-Length: %d" % len(body)) + body)
    assert_envelope(answer, 400)  # the password rules: the app read it
    assert answer.body["errorCode"] != "PAYLOAD_TOO_LARGE"


@pytest.mark.parametrize(
    "second",
    [
        accept_head(b"Content-Length: %d" % (MAX_BODY + 1)),
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n",
    ],
    ids=["413", "431"],
)
def test_refusal_after_an_answered_request_on_one_connection__answered(
    service: Service, second: bytes
) -> None:
    with service.connect() as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        first = b""
        while not first.endswith(b"}\n"):
            first += sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 ")
        with suppress(OSError):
            sock.sendall(second)
        answer = read_answer(sock)
    assert answer.closed
    assert answer.status in (413, 431)
    assert_envelope(answer, answer.status)


def test_large_but_allowed_head__served(service: Service) -> None:
    headers = b"".join(b"X-H%d: %s\r\n" % (i, b"a" * 7000) for i in range(8))  # 8 x 7 KB
    url = b"/auth/api/v1/" + b"a" * 7000
    assert (
        exchange(service, HEALTHZ.replace(b"\r\n\r\n", b"\r\n" + headers + b"\r\n")).status == 200
    )
    answer = exchange(service, b"GET " + url + b" HTTP/1.1\r\nHost: t\r\n\r\n")
    assert_envelope(answer, 404)


def test_unterminated_heads_from_many_connections__answered_and_memory_bounded(
    service: Service,
) -> None:
    before = rss_bytes(service.pid)
    head = b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Never-Ends: "
    with ExitStack() as stack:
        sockets = [stack.enter_context(service.connect()) for _ in range(10)]
        for sock in sockets:
            sock.sendall(head)
        filler = b"a" * 65536
        for _ in range(12):  # 768 KB each, 7.5 MB in all, never terminated
            for sock in sockets:
                with suppress(BrokenPipeError, ConnectionResetError):
                    sock.sendall(filler)
        answers = [read_answer(sock, timeout=5) for sock in sockets]
    for answer in answers:
        assert_envelope(answer, 431)
    assert rss_bytes(service.pid) - before < 32 * 1024 * 1024


# Time limits


def test_slowloris__sockets_closed_after_the_header_timeout(service: Service) -> None:
    started = time.monotonic()
    with ExitStack() as stack:
        silent = [stack.enter_context(service.connect()) for _ in range(8)]
        partial = [stack.enter_context(service.connect()) for _ in range(8)]
        trickle = [stack.enter_context(service.connect()) for _ in range(8)]
        for sock in partial:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        request = b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 100
        sent = 0
        while time.monotonic() - started < HEADER_TIMEOUT + 1.5 and sent < len(request):
            for sock in trickle:  # one byte at a time: data must not reset the timer
                with suppress(BrokenPipeError, ConnectionResetError):
                    sock.sendall(request[sent : sent + 1])
            sent += 1
            time.sleep(0.1)
        answers = {
            "silent": [read_answer(s, timeout=HEADER_TIMEOUT + 3) for s in silent],
            "partial": [read_answer(s, timeout=HEADER_TIMEOUT + 3) for s in partial],
            "trickle": [read_answer(s, timeout=HEADER_TIMEOUT + 3) for s in trickle],
        }
    elapsed = time.monotonic() - started
    assert all(a.closed and a.raw == b"" for a in answers["silent"])  # nothing asked, no answer
    for answer in answers["partial"] + answers["trickle"]:
        assert_envelope(answer, 408)
    assert HEADER_TIMEOUT * 0.8 < elapsed < HEADER_TIMEOUT + 4


def test_idle_keepalive__closed_after_the_keepalive_timeout(service: Service) -> None:
    with service.connect() as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        sock.settimeout(5)
        first = b""
        while not first.endswith(b"}\n"):  # the whole answer: head, then the JSON body
            first += sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 ")
        started = time.monotonic()
        idle = read_answer(sock, timeout=KEEPALIVE_TIMEOUT + 4)
    assert idle.closed
    assert idle.raw == b""
    assert time.monotonic() - started < KEEPALIVE_TIMEOUT + 3


# The connection cap and the descriptor limit


def test_connection_cap__503_envelope_then_served_again(service: Service) -> None:
    with ExitStack() as stack:
        held = [stack.enter_context(service.connect()) for _ in range(MAX_CONNECTIONS)]
        time.sleep(0.2)
        over = exchange(service, HEALTHZ)
        assert held
    assert_envelope(over, 503)
    assert over.headers["retry-after"] == "1"
    deadline = time.monotonic() + 5
    while (answer := exchange(service, HEALTHZ)).status != 200:
        assert time.monotonic() < deadline, answer.raw[:200]
        time.sleep(0.1)


@contextmanager
def serve_with_descriptor_limit(
    tmp_path: Path, limit: int, settings: dict[str, str]
) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    port = free_port()
    log_path = tmp_path / "serve.log"

    def limit_descriptors() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [authsvc_bin(), "serve", "--data-dir", str(tmp_path / "d"), "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=service_env(settings),
            preexec_fn=limit_descriptors,  # only setrlimit, before exec
        )
        try:
            yield process, port, log_path
        finally:
            stop(process)


def test_descriptor_limit__never_reached_and_the_log_stays_quiet(tmp_path: Path) -> None:
    settings = {**SETTINGS, "AUTHSVC_HTTP_MAX_CONNECTIONS": "50"}
    limit = 400  # the cap, the refusals in flight, one accept batch and the process's own files
    with serve_with_descriptor_limit(tmp_path, limit, settings) as (process, port, log_path):
        wait_for_http(f"http://127.0.0.1:{port}/healthz", process=process)
        with ExitStack() as stack:
            for _ in range(2 * limit - 100):  # well past the server's descriptor limit
                with suppress(OSError):
                    stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=2))
            time.sleep(1.0)
            fds = len(os.listdir(f"/proc/{process.pid}/fd"))
        service = Service(Running(process, "", log_path), port, {})
        deadline = time.monotonic() + HEADER_TIMEOUT + 5
        while (answer := exchange(service, HEALTHZ)).status != 200:
            assert time.monotonic() < deadline, answer.raw[:200]
            time.sleep(0.2)
    log = log_path.read_text(errors="replace")
    assert "out of system resource" not in log
    assert "Traceback" not in log
    assert fds < limit


def test_cap_above_the_descriptor_limit__refuses_to_start(tmp_path: Path) -> None:
    with serve_with_descriptor_limit(tmp_path, 200, {}) as (process, _port, log_path):
        assert process.wait(timeout=60) == 2
    [line] = log_path.read_text().strip().splitlines()
    assert "AUTHSVC_HTTP_MAX_CONNECTIONS" in line


# Strict HTTP


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n",
    ],
    ids=["no-host", "two-hosts"],
)
def test_host__exactly_one_required__400_envelope(service: Service, request_bytes: bytes) -> None:
    assert_envelope(exchange(service, request_bytes), 400)


def test_http10_without_host__served(service: Service) -> None:
    assert exchange(service, b"GET /healthz HTTP/1.0\r\n\r\n").status == 200


def test_duplicate_authorization__refused_and_nothing_sent(service: Service) -> None:
    answer = exchange(service, resend_request(service, bearer(service), bearer(service)))
    assert_envelope(answer, 400)
    single = exchange(service, resend_request(service, bearer(service)))
    assert single.status == 200  # the same request with one header is served


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "resend"), ("GET", "/healthz/"), ("GET", "/auth/api/v1/openapi.json/")],
    ids=["resend-invite", "healthz", "openapi-json"],
)
def test_trailing_slash__404_envelope_no_redirect(service: Service, method: str, path: str) -> None:
    if path == "resend":
        path = resend_path(service.demo["customer_id"], service.demo["invited_user_id"]) + "/"
    request = (
        f"{method} {path} HTTP/1.1\r\nHost: evil.example\r\nContent-Length: 0\r\n"
        f"Connection: close\r\n\r\n"
    ).encode()
    answer = exchange(service, request)
    assert_envelope(answer, 404)
    assert "location" not in answer.headers


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"BLAH\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nX: a\x00b\r\n\r\n",
        b"POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        b"POST /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 32,
        b"GET /healthz HTTP/1.1\nHost: t\n\n\x00\x00",
    ],
    ids=[
        "no-method",
        "space-in-name",
        "nul-in-value",
        "two-content-lengths",
        "bad-chunk",
        "http2-preface",
        "tls-hello",
        "bare-lf-then-garbage",
    ],
)
def test_parser_errors__400_envelope(service: Service, request_bytes: bytes) -> None:
    answer = exchange(service, request_bytes)
    assert_envelope(answer, 400)


# Everyone else


def test_other_clients_served_while_attackers_hold_sockets(service: Service) -> None:
    stop_attack = threading.Event()
    sent: list[int] = []

    def flood() -> None:  # a 30 MB head as fast as loopback takes it
        total = 0
        with service.connect(timeout=10) as sock:
            try:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Flood: ")
                chunk = b"a" * 262144
                while total < 30 * 1024 * 1024 and not stop_attack.is_set():
                    sock.sendall(chunk)
                    total += len(chunk)
            except OSError:
                pass
        sent.append(total)

    with ExitStack() as stack:
        for _ in range(MAX_CONNECTIONS // 2):  # slowloris sockets, half the cap
            stack.enter_context(service.connect()).sendall(b"GET / HTTP/1.1\r\n")
        attackers = [threading.Thread(target=flood) for _ in range(3)]
        for thread in attackers:
            thread.start()
        try:
            latencies = []
            for _ in range(10):
                started = time.monotonic()
                assert exchange(service, HEALTHZ).status == 200
                latencies.append(time.monotonic() - started)
        finally:
            stop_attack.set()
            for thread in attackers:
                thread.join(timeout=30)
    assert max(latencies) < 2.0, latencies
    assert len(sent) == 3
    assert all(total < 30 * 1024 * 1024 for total in sent), sent  # the server cut them off


def test_log__no_5xx_and_no_traceback(service: Service) -> None:
    # Runs last in this module: the whole hostile session went through this server.
    exchange(service, HEALTHZ)
    log = service.running.output()
    assert "Traceback" not in log
    assert '" 500' not in log
    assert "ERROR" not in log


# The defaults


@pytest.mark.slow
def test_default_header_timeout__ten_seconds(tmp_path: Path) -> None:
    with serve(tmp_path, {}) as live:
        with live.connect() as silent, live.connect() as partial:
            partial.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
            started = time.monotonic()
            still_open = read_answer(partial, timeout=8.0)
            assert not still_open.closed  # nothing yet at 8 s
            answer = read_answer(partial, timeout=5.0)
            silent_answer = read_answer(silent, timeout=1.0)
        elapsed = time.monotonic() - started
    assert_envelope(answer, 408)
    assert silent_answer.closed
    assert silent_answer.raw == b""
    assert 9.0 < elapsed < 13.5
