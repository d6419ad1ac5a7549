"""The ASGI adapter's own duties: delay, hot reload, and the validation proxy."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path

import httpx
import pytest

from authsvc.contract import Contract
from authsvc.mock import MockApp, MockOptions
from authsvc.mock.serving import CoalescingTransport
from tests.mock.conftest import CONTRACTS
from tests.mock.corpus import BEARER, RESEND
from tests.mock.servers import running_mock


def test_server__delay_is_applied(contracts: dict[str, Contract]) -> None:
    with running_mock(MockApp(contracts["seed.yaml"])) as url:
        started = time.perf_counter()
        httpx.post(url + RESEND, headers={**BEARER, "Prefer": "delay=300"})
        assert time.perf_counter() - started >= 0.3


@pytest.mark.parametrize(
    ("replacement", "reloaded", "status"),
    [("Invite mail sent successfully", True, 200), ("openapi: 3.1.0\npaths: 1\n", False, 200)],
    ids=["valid-edit-is-served", "broken-edit-keeps-old-contract"],
)
def test_server__reload(tmp_path: Path, replacement: str, reloaded: bool, status: int) -> None:
    spec = tmp_path / "seed.yaml"
    spec.write_text((CONTRACTS / "seed.yaml").read_text())
    from authsvc.contract import load_contract

    app = MockApp(load_contract(spec))
    if reloaded:
        spec.write_text(spec.read_text().replace(replacement, "Reloaded"))
    else:
        spec.write_text(replacement)
    assert app.reload() is reloaded
    with running_mock(app) as url:
        response = httpx.post(url + RESEND, headers=BEARER)
    assert response.status_code == status
    assert ("Reloaded" in response.text) is reloaded


@pytest.mark.parametrize(
    ("path", "headers", "errors", "status", "violation"),
    [
        (RESEND, BEARER, False, 200, None),
        (
            "/customers/x/users/y/resend-invite",
            BEARER,
            False,
            400,
            ["request", "path", "customerid"],
        ),
        (
            "/customers/x/users/y/resend-invite",
            BEARER,
            True,
            500,
            ["request", "path", "customerid"],
        ),
    ],
    ids=["clean", "violation-reported", "errors-flag"],
)
def test_server__proxy_validates_upstream_traffic(
    contracts: dict[str, Contract], path: str, headers: dict[str, str], errors: bool,
    status: int, violation: list[str] | None,
) -> None:  # fmt: skip
    with running_mock(MockApp(contracts["seed.yaml"])) as upstream:
        proxy = MockApp(contracts["seed.yaml"], MockOptions(errors=errors), proxy=upstream)
        with running_mock(proxy) as url:
            response = httpx.post(url + path, headers=headers)
    assert response.status_code == status
    if violation is None:
        assert "sl-violations" not in response.headers
    elif errors:
        assert response.json()["validation"][0]["location"] == violation
    else:
        assert json.loads(response.headers["sl-violations"])[0]["location"] == violation


class _Recorder:
    """The transport under a CoalescingTransport: what reaches the socket, in order."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True


def test_server__writes_of_one_loop_step_leave_as_one() -> None:
    loop = asyncio.new_event_loop()
    try:
        inner = _Recorder()
        transport = CoalescingTransport(inner, loop)  # type: ignore[arg-type]
        transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
        transport.write(b"")
        transport.writelines([b"body", b"!"])
        assert inner.writes == []
        loop.run_until_complete(asyncio.sleep(0))
        assert inner.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody!"]
        transport.write(b"last")
        transport.close()  # pending bytes go out before the close
        assert inner.writes[-1] == b"last"
        assert inner.closed
        transport.write(b"late")  # after close the transport itself decides, at once
        assert inner.writes[-1] == b"late"
        dropped = CoalescingTransport(inner, loop)  # type: ignore[arg-type]
        dropped.write(b"never")
        dropped.abort()
        loop.run_until_complete(asyncio.sleep(0))
        assert inner.aborted
        assert b"never" not in inner.writes
    finally:
        loop.close()


def _exchange(url: str, *chunks: bytes, pause: float = 0.0) -> bytes:
    """Send raw bytes to the mock and read until it closes the connection."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        for chunk in chunks:
            sock.sendall(chunk)
            time.sleep(pause)
        received = b""
        while data := sock.recv(65536):
            received += data
    return received


def test_server__http_framing_over_one_connection(contracts: dict[str, Contract]) -> None:
    """Pipelining, HEAD, 100-continue and a malformed request, as uvicorn frames them."""
    resend = f"POST {RESEND} HTTP/1.1\r\nHost: m\r\nAuthorization: Bearer t\r\n"
    with running_mock(MockApp(contracts["seed.yaml"])) as url:
        pipelined = _exchange(url, (resend + "\r\n").encode() * 2
                              + (resend + "Connection: close\r\n\r\n").encode())  # fmt: skip
        head = _exchange(url, f"HEAD {RESEND} HTTP/1.1\r\nHost: m\r\n\r\n".encode()
                         + (resend + "Connection: close\r\n\r\n").encode())  # fmt: skip
        bad = _exchange(url, b"NOT HTTP\r\n\r\n")
    with running_mock(MockApp(contracts["library-31.yaml"])) as url:
        body = b'{"title":"Dune","position":[1,"a"]}'
        continued = _exchange(
            url,
            b"POST /books HTTP/1.1\r\nHost: m\r\nAuthorization: Bearer t\r\nConnection: close\r\n"
            b"Content-Type: application/json\r\nExpect: 100-continue\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode(),
            body,
            pause=0.2,
        )
    answer = b"Invite mail sent successfully"
    assert pipelined.count(b"HTTP/1.1 200 OK\r\n") == 3
    assert pipelined.count(answer) == 3
    assert pipelined.endswith(b"}")
    first, _, second = head.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 405 ")
    assert b"content-length: " in first
    assert second.startswith(b"HTTP/1.1 200 OK\r\n")
    assert second.endswith(answer + b'"}')
    assert bad.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert continued.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 ")
