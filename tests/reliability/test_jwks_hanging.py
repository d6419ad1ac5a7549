"""A JWKS server that accepts connections and never answers: unknown-`kid` tokens share one fetch.

Issue 15 part 3: with the refresh cooldown shorter than the fetch timeout, eight concurrent tokens
naming an unknown `kid` each waited for the previous fetch and then made their own (401s after 3,
6, ... 24 s). Now they all wait for one fetch, and none waits longer than one fetch timeout.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from authsvc.security.keys import JWKS_TIMEOUT_SECONDS
from tests.reliability.conftest import ServeFactory
from tests.reliability.support import UNAUTHORIZED, bearer, resend_path

WAITERS = 8
# Generous: one fetch timeout plus as much again for a loaded machine. The defect took one more
# fetch timeout per waiter.
BOUND_SECONDS = 2 * JWKS_TIMEOUT_SECONDS


class HangingServer:
    """Accepts every connection on loopback and never sends a byte; counts the connections."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/.well-known/jwks.json"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            self.accepted.append(connection)  # kept open, never answered

    @contextmanager
    def running(self) -> Iterator[HangingServer]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(timeout=5)
            for connection in self.accepted:
                connection.close()
            self.listener.close()


async def _timed_post(client: httpx.AsyncClient, url: str, token: str) -> tuple[int, object, float]:
    started = time.monotonic()
    response = await client.post(url, headers=bearer(token))
    return response.status_code, response.json(), time.monotonic() - started


def test_jwks_hanging__unknown_kids_share_one_fetch_and_wait_at_most_one_timeout(
    serve_any: ServeFactory, sqlite_template: Path, tmp_path: Path
) -> None:
    # The database plays no part: the embedded default alone.
    database = tmp_path / "authsvc.db"
    shutil.copy(sqlite_template, database)
    signer = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks = HangingServer()
    # Cooldown (1 s) shorter than the fetch timeout, as in the reproduction.
    with (
        jwks.running(),
        serve_any(
            database_url=f"sqlite:///{database}",
            jwks_url=jwks.url,
            jwks_refresh_cooldown_seconds=1,
        ) as service,
    ):
        customer = service.demo["customer_id"]
        tokens = [
            jwt.encode(
                {"sub": service.demo["active_user_id"], "exp": int(time.time()) + 600},
                signer,
                algorithm="RS256",
                headers={"kid": secrets.token_urlsafe(8)},
            )
            for _ in range(WAITERS)
        ]
        url = service.base_url + resend_path(customer, service.demo["invited_user_id"])

        async def all_at_once() -> list[tuple[int, object, float]]:
            async with httpx.AsyncClient(timeout=60) as client:
                return await asyncio.gather(*(_timed_post(client, url, t) for t in tokens))

        answers = asyncio.run(all_at_once())

    assert [(status, body) for status, body, _ in answers] == [(401, UNAUTHORIZED)] * WAITERS
    slowest = max(seconds for _, _, seconds in answers)
    assert slowest < BOUND_SECONDS, f"a waiter took {slowest:.1f}s"
    assert len(jwks.accepted) == 1
