"""The ASGI adapter's own duties: delay, hot reload, and the validation proxy."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from authsvc.contract import Contract
from authsvc.mock import MockApp, MockOptions
from authsvc.mock.serve.serving import CoalescingTransport
from tests.mock.conftest import CONTRACTS
from tests.mock.corpus import BEARER, RESEND
from tests.support.mock_servers import running_mock


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


def test_server__head_on_a_get_operation_is_405_with_allow(contracts: dict[str, Contract]) -> None:
    """As Prism answers it (a `head` operation is matched by its own method only), plus `Allow`."""
    headers = {"X-API-Key": "k"}
    with running_mock(MockApp(contracts["petstore-30.yaml"])) as url:
        head = httpx.head(url + "/pets/1", headers=headers)
        get = httpx.get(url + "/pets/1", headers=headers)
    assert head.status_code == 405
    assert head.headers["allow"] == "DELETE, GET"
    assert head.content == b""
    assert get.status_code == 200


async def _echo_upstream(scope: Any, receive: Any, send: Any) -> None:
    """A real server behind the proxy: it answers with the headers it got, a Location and a Date."""
    if scope["type"] != "http":
        return
    await receive()
    seen = {k.decode(): v.decode() for k, v in scope["headers"]}
    body = json.dumps(seen).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"location", f"http://{seen['host']}/next?x=1".encode()),
        (b"content-location", b"https://elsewhere.test/kept"),
        (b"date", b"Mon, 01 Jan 2001 00:00:00 GMT"),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def test_server__proxy_forwards_the_real_peer_and_rewrites_location(
    contracts: dict[str, Contract],
) -> None:
    claimed = {"X-Forwarded-For": "203.0.113.9", "Forwarded": "for=203.0.113.9"}
    with running_mock(_echo_upstream) as upstream:  # type: ignore[arg-type]
        proxy = MockApp(contracts["seed.yaml"], proxy=upstream)
        with running_mock(proxy) as url:
            response = httpx.post(url + RESEND, headers={**BEARER, **claimed})
    seen = response.json()
    assert seen["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert seen["forwarded"] == f'for=203.0.113.9, for=127.0.0.1;proto=http;host="{url[7:]}"'
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-host"] == url[7:]
    assert seen["host"] == upstream[7:]
    assert response.headers["location"] == url + "/next?x=1"
    assert response.headers["content-location"] == "https://elsewhere.test/kept"
    assert len(response.headers.get_list("date")) == 1
    assert response.headers["date"] != "Mon, 01 Jan 2001 00:00:00 GMT"  # the mock's own


def test_server__proxy_to_a_closed_upstream_is_a_502_that_does_not_name_it(
    contracts: dict[str, Contract],
) -> None:
    from tests.support.mock_servers import free_port

    closed = f"http://127.0.0.1:{free_port()}"
    with running_mock(MockApp(contracts["seed.yaml"], proxy=closed)) as url:
        response = httpx.post(url + RESEND, headers=BEARER)
    assert response.status_code == 502
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 502
    assert "127.0.0.1" not in response.text
    assert closed.rsplit(":", 1)[1] not in response.text
    assert "did not answer" in problem["detail"]


_BAD_EDITS = {
    "invalid-yaml": "openapi: 3.0.3\ninfo: [unclosed\n",
    "ref-cycle": (CONTRACTS / "mock-hostile-ref-cycle.yaml"),
    "alias-bomb": (CONTRACTS / "mock-hostile-alias-bomb.yaml"),
}


def _served_title(url: str) -> str | None:
    response = httpx.get(url + "/title", timeout=5)
    return response.json().get("title") if response.status_code == 200 else None


def _valid(title: str) -> str:
    return (CONTRACTS / "mock-reload.yaml").read_text().replace("first", title)


def _wait_for(check: Any, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_server__watcher_survives_hostile_edits_and_serves_later_valid_ones(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from authsvc.contract import load_contract

    spec = tmp_path / "contract.yaml"
    spec.write_text(_valid("first"))
    app = MockApp(load_contract(spec), watch=True)
    with running_mock(app) as url:
        assert _served_title(url) == "first"
        for n, (name, edit) in enumerate(_BAD_EDITS.items()):
            caplog.clear()
            spec.write_text(edit.read_text() if isinstance(edit, Path) else edit)
            assert _wait_for(lambda: "contract not reloaded" in caplog.text), name
            [line] = [r.getMessage() for r in caplog.records if "not reloaded" in r.getMessage()]
            assert "\n" not in line, name
            assert str(spec) in line, name
            assert _served_title(url) == "first", name  # the last good contract, still served
            spec.write_text(_valid(f"valid-{n}"))
            assert _wait_for(lambda n=n: _served_title(url) == f"valid-{n}"), name
            spec.write_text(_valid("first"))
            assert _wait_for(lambda: _served_title(url) == "first"), name


def test_server__a_load_that_takes_too_long_is_abandoned(tmp_path: Path) -> None:
    from authsvc.contract import load_contract

    spec = tmp_path / "contract.yaml"
    spec.write_text(_valid("first"))
    app = MockApp(load_contract(spec))
    # A real, valid, large contract: reading and resolving it takes far longer than 0.2 s.
    item = "  /p{n}:\n    get:\n      responses:\n        '200': {{description: ok}}\n"
    paths = "".join(item.format(n=n) for n in range(20_000))
    spec.write_text(f"openapi: 3.0.3\ninfo: {{title: big, version: '1'}}\npaths:\n{paths}")
    started = time.monotonic()
    assert asyncio.run(app.reload_in_background(timeout=0.2)) is False
    assert time.monotonic() - started < 5
    assert _served_example(app) == {"title": "first"}


def _served_example(app: MockApp) -> Any:
    from authsvc.mock import MockRequest

    return app.engine.handle(MockRequest.build("GET", "/title")).json()


def test_server__sigterm_stops_the_mock_promptly_while_a_hostile_edit_loads(
    tmp_path: Path,
) -> None:
    import os
    import resource
    import signal
    import subprocess
    import sys

    from tests.support.mock_servers import free_port, wait_until_up

    spec = tmp_path / "contract.yaml"
    spec.write_text(_valid("first"))
    port = free_port()

    def limit_memory() -> None:  # whatever the bomb does, it cannot take the machine with it
        resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))

    process = subprocess.Popen(
        [sys.executable, "-m", "authsvc.mock", str(spec), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=limit_memory,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url + "/title", timeout=60)
        spec.write_text((CONTRACTS / "mock-hostile-alias-bomb.yaml").read_text())
        time.sleep(1.5)  # the watcher has seen it and is loading
        assert _served_title(url) == "first"
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
        assert time.monotonic() - started < 15
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        assert process.stderr is not None
        process.stderr.close()
