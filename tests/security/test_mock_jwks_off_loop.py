"""`authsvc mock --verify-jwt --jwks-url`: a slow JWKS endpoint never stalls the mock's event loop.

The mock verifies with the service's verifier; a JWKS fetch waits on the network, so the mock
server answers such requests in a worker thread, as the service's bearer check does.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from authsvc.contract import load_contract
from authsvc.mock.engine.model import MockOptions
from authsvc.mock.serve.jwt import JwtCheck
from authsvc.mock.serve.server import MockApp
from authsvc.security.jwk import public_jwk

SEED = Path(__file__).resolve().parents[1] / "contracts" / "seed.yaml"
C = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
RESEND = f"/customers/{C}/users/{C}/resend-invite"
JWKS_DELAY = 1.5


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@contextmanager
def json_server(body: bytes, *, delay: float = 0.0) -> Iterator[str]:
    """A loopback HTTP server answering any GET or POST with `body` after `delay` seconds."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            time.sleep(delay)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.do_GET()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class LoopLag:
    """The longest the event loop was late for a 10 ms sleep while `async with` lasted."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        while not self._stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            self.worst = max(self.worst, time.perf_counter() - before - 0.01)

    async def __aenter__(self) -> LoopLag:
        self._task = asyncio.create_task(self._tick())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._task is not None
        await self._task


@pytest.fixture
def slow_jwks(key: ec.EllipticCurvePrivateKey) -> Iterator[str]:
    body = json.dumps({"keys": [public_jwk(key.public_key(), "k1")]}).encode()
    with json_server(body, delay=JWKS_DELAY) as url:
        yield f"{url}/jwks.json"


@pytest.fixture
def upstream() -> Iterator[str]:
    """A real server behind `--proxy` that answers the resend as the contract documents."""
    body = json.dumps({"status": "success", "message": "Invite mail sent successfully"}).encode()
    with json_server(body) as url:
        yield url


def test_mock_verify_jwt__slow_jwks_does_not_block_the_loop(
    slow_jwks: str, key: ec.EllipticCurvePrivateKey
) -> None:
    check = JwtCheck.build(jwks_url=slow_jwks, customer_param=None)
    app = MockApp(load_contract(SEED), MockOptions(jwt=check))
    token = jwt.encode(
        {"exp": int(time.time()) + 600}, key, algorithm="ES256", headers={"kid": "k1"}
    )

    async def scenario() -> tuple[int, int, float, float, float]:
        transport = httpx.ASGITransport(app=app)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://mock") as client,
            LoopLag() as lag,
        ):
            started = time.perf_counter()
            verified = asyncio.create_task(
                client.post(RESEND, headers={"Authorization": f"Bearer {token}"})
            )
            await asyncio.sleep(0.2)  # the JWKS fetch is under way
            anonymous = await client.post(RESEND)  # no token: answered at once
            anonymous_at = time.perf_counter() - started
            answered = await verified
            verified_at = time.perf_counter() - started
        return answered.status_code, anonymous.status_code, anonymous_at, verified_at, lag.worst

    verified, anonymous, anonymous_at, verified_at, lag = asyncio.run(scenario())
    assert (verified, anonymous) == (200, 401)
    assert verified_at >= JWKS_DELAY  # the token really waited for the slow JWKS
    assert anonymous_at < JWKS_DELAY  # ... and the other request did not wait with it
    assert lag < 0.5, f"the event loop stalled {lag:.3f} s"


def test_mock_proxy_verify_jwt__slow_jwks_does_not_block_the_loop(
    slow_jwks: str, upstream: str, key: ec.EllipticCurvePrivateKey
) -> None:
    """The validation proxy checks the bearer of each exchange with the same verifier, off-loop."""
    check = JwtCheck.build(jwks_url=slow_jwks, customer_param=None)
    app = MockApp(load_contract(SEED), MockOptions(jwt=check), proxy=upstream)
    token = jwt.encode(
        {"exp": int(time.time()) + 600}, key, algorithm="ES256", headers={"kid": "k1"}
    )

    async def scenario() -> tuple[int, float]:
        transport = httpx.ASGITransport(app=app)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://mock") as client,
            LoopLag() as lag,
        ):
            answered = await client.post(RESEND, headers={"Authorization": f"Bearer {token}"})
        return answered.status_code, lag.worst

    status, lag = asyncio.run(scenario())
    assert status == 200
    assert lag < 0.5, f"the event loop stalled {lag:.3f} s"
