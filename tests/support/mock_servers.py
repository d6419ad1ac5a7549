"""Start the mock (in a thread) and Prism (as a process) on free loopback ports, and stop them."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn

from authsvc.mock.serve.server import MockApp
from authsvc.mock.serve.serving import uvicorn_options

NO_NODE = "node is not installed: the differential test against Prism needs it"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, timeout: float = 30.0) -> float:
    """Seconds until `url` answers at all (any status)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        try:
            httpx.get(url, timeout=0.5)
            return time.perf_counter() - started
        except httpx.TransportError:
            time.sleep(0.02)
    raise TimeoutError(f"{url} did not start within {timeout}s")


@contextmanager
def running_mock(app: MockApp) -> Iterator[str]:
    """The mock served by uvicorn on a free port, for the duration of the block."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, **uvicorn_options(log_level="error"))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base + "/")
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def prism_command() -> list[str] | None:
    """How to run Prism: $AUTHSVC_TEST_PRISM_BIN, `prism` on PATH, or `npx --no-install prism`."""
    configured = os.environ.get("AUTHSVC_TEST_PRISM_BIN")
    if configured:
        return [configured]
    if found := shutil.which("prism"):
        return [found]
    if shutil.which("node") is None:
        pytest.skip(NO_NODE)
    npx = shutil.which("npx")
    if npx is not None:
        probe = subprocess.run(
            [npx, "--no-install", "prism", "--version"], capture_output=True, timeout=60
        )
        if probe.returncode == 0:
            return [npx, "--no-install", "prism"]
    return None


def require_prism() -> list[str]:
    """Prism's command, or skip (no node) / fail (node but no Prism in CI)."""
    command = prism_command()
    if command is None:
        message = (
            "Prism not found: set AUTHSVC_TEST_PRISM_BIN or `npm install @stoplight/prism-cli@5`"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return command


@contextmanager
def running_prism(command: list[str], spec: Path, *, dynamic: bool = False) -> Iterator[str]:
    port = free_port()
    args = [*command, "mock", "-h", "127.0.0.1", "-p", str(port), str(spec)]
    if dynamic:
        args.append("--dynamic")
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base + "/", timeout=60)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
