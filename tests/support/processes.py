"""Real `authsvc` processes for the contract and reliability suites: start, wait, stop, always.

Every process gets a scrubbed environment: only the `AUTHSVC_*` settings a test names reach it,
because the service refuses unknown `AUTHSVC_*` variables (CI exports `AUTHSVC_TEST_*`).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

REPO = Path(__file__).resolve().parents[2]


def authsvc_bin() -> str:
    """The `authsvc` console script of this interpreter's environment."""
    beside = Path(sys.executable).with_name("authsvc")
    return str(beside) if beside.exists() else shutil.which("authsvc") or "authsvc"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_env(settings: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any `AUTHSVC_*`, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSVC_")}
    env.update(settings or {})
    env["PYTHONUNBUFFERED"] = "1"
    return env


def wait_for_http(url: str, *, timeout: float = 30.0, process: subprocess.Popen[bytes]) -> None:
    """Until `url` answers (any status); fails early if `process` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


def stop(process: subprocess.Popen[bytes], *, timeout: float = 10.0) -> int:
    """SIGTERM, then SIGKILL after `timeout`; returns the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)
    return int(process.returncode)


@dataclass
class Running:
    """A started process, where it listens (if it does) and where its output goes."""

    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def running(
    args: list[str],
    *,
    log_path: Path,
    settings: Mapping[str, str] | None = None,
    port: int | None = None,
    ready_path: str | None = None,
    timeout: float = 30.0,
    stderr_path: Path | None = None,
) -> Iterator[Running]:
    """`authsvc ARGS` with stdout+stderr in `log_path` (stderr apart in `stderr_path` if given);
    waits for `ready_path` if given; stops it."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log: IO[bytes] = open(log_path, "wb")  # noqa: SIM115 - closed below, after the process
    errors: IO[bytes] | None = open(stderr_path, "wb") if stderr_path else None  # noqa: SIM115
    process = subprocess.Popen(
        [authsvc_bin(), *args],
        stdout=log,
        stderr=errors or subprocess.STDOUT,
        env=service_env(settings),
        cwd=REPO,
    )
    base_url = f"http://127.0.0.1:{port}" if port else ""
    try:
        if ready_path is not None:
            wait_for_http(base_url + ready_path, timeout=timeout, process=process)
        yield Running(process, base_url, log_path)
    finally:
        stop(process)
        log.close()
        if errors:
            errors.close()


def run_demo(data_dir: Path, base_url: str, settings: Mapping[str, str] | None = None) -> str:
    """`authsvc demo --json` for the data directory; returns its stdout."""
    return subprocess.run(
        [authsvc_bin(), "demo", "--data-dir", str(data_dir), "--json", "--base-url", base_url],
        check=True,
        capture_output=True,
        text=True,
        env=service_env(settings),
        cwd=REPO,
        timeout=60,
    ).stdout
