"""Run an ASGI app under uvicorn on a free loopback port, in a thread, for tests that need HTTP."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_server(app: Any, *, port: int | None = None, **options: Any) -> Iterator[str]:
    """Yield the base URL of `app` served on 127.0.0.1; stops the server on exit.

    `options` go to `uvicorn.Config` (e.g. `log_config=None` leaves logging to the test).
    """
    port = port or free_port()
    settings: dict[str, Any] = {
        "log_level": "warning",
        "lifespan": "on",
        "proxy_headers": False,  # as `authsvc serve`: the app alone decides whom to trust
        **options,
    }
    config = uvicorn.Config(app, host="127.0.0.1", port=port, **settings)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
