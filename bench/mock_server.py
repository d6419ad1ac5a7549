"""Suite 2: `authsvc mock` against Stoplight Prism on the same contract and the same request."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench.load import Target
from bench.procs import Server, free_port, spawned

SPEC = Path(__file__).resolve().parent.parent / "openapi" / "auth-service.yaml"
PATH = "/customers/3fa85f64-5717-4562-b3fc-2c963f66afa6/users/1b4e28ba-2fa1-11d2-883f-0016d3cca427/resend-invite"
# Any bearer satisfies a mock that does not verify JWTs (Prism's default, and ours).
HEADERS = (("Authorization", "Bearer bench.token.value"),)


def prism_command() -> list[str] | None:
    """$AUTHSVC_TEST_PRISM_BIN, else `prism` on PATH, else None (`--install-prism` installs it)."""
    configured = os.environ.get("AUTHSVC_TEST_PRISM_BIN")
    if configured:
        return [configured]
    if found := shutil.which("prism"):
        return [found]
    return None


def install_prism(prefix: Path) -> list[str] | None:
    """`npm install --prefix <prefix> @stoplight/prism-cli@5` when npm exists; its bin or None."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        return None
    done = subprocess.run(
        [npm, "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(prefix),
         "@stoplight/prism-cli@5"],
        capture_output=True, timeout=600,
    )  # fmt: skip
    binary = prefix / "node_modules" / ".bin" / "prism"
    return [str(binary)] if done.returncode == 0 and binary.exists() else None


def _target(port: int) -> Target:
    return Target(url=f"http://127.0.0.1:{port}{PATH}", method="POST", headers=HEADERS)


def _ready(target: Target) -> httpx.Request:
    return httpx.Request(target.method, target.url, headers=dict(target.headers))


@contextmanager
def authsvc_mock(log_dir: Path) -> Iterator[tuple[Server, Target]]:
    port = free_port()
    authsvc = str(Path(sys.executable).parent / "authsvc")
    command = [authsvc, "mock", str(SPEC), "--port", str(port)]
    target = _target(port)
    with spawned("authsvc-mock", command, port=port, ready=_ready(target), log_dir=log_dir) as s:
        yield s, target


@contextmanager
def prism(log_dir: Path, prism_bin: list[str], *, silent: bool) -> Iterator[tuple[Server, Target]]:
    port = free_port()
    command = [*prism_bin, "mock", str(SPEC), "--port", str(port)]
    if silent:
        command += ["--verboseLevel", "silent"]
    name = "prism-silent" if silent else "prism"
    target = _target(port)
    with spawned(name, command, port=port, ready=_ready(target), log_dir=log_dir) as server:
        yield server, target


def same_answer(a: Target, b: Target) -> tuple[bool, str]:
    """Both servers answer the benchmark request with the same status and JSON body."""
    with httpx.Client(timeout=5) as client:
        ra = client.request(a.method, a.url, headers=dict(a.headers))
        rb = client.request(b.method, b.url, headers=dict(b.headers))
    same = ra.status_code == rb.status_code and ra.json() == rb.json()
    return same, f"{ra.status_code} {ra.text} vs {rb.status_code} {rb.text}"
