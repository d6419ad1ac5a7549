"""Servers under test as child processes: spawn, time to first good answer, RSS, clean stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    base_url: str
    startup_s: float
    log: Path

    def rss_mb(self) -> float:
        """Resident memory of the server and its descendants (Prism runs under node), in MB."""
        return sum(_status_kb(pid, "VmRSS") for pid in _tree(self.process.pid)) / 1024

    def peak_rss_mb(self) -> float:
        return sum(_status_kb(pid, "VmHWM") for pid in _tree(self.process.pid)) / 1024

    def cpu_seconds(self) -> float:
        """User + system CPU of the server's process tree so far (all its threads)."""
        return sum(_cpu_ticks(pid) for pid in _tree(self.process.pid)) / _TICKS_PER_SECOND


@contextmanager
def spawned(
    name: str,
    command: Sequence[str],
    *,
    port: int,
    ready: httpx.Request,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60.0,
) -> Iterator[Server]:
    """Start `command`; `startup_s` is spawn-to-first-2xx of `ready`. Stops its process group."""
    log = log_dir / f"{name}-{port}.log"
    with log.open("wb") as sink:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(command),
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,  # our own process group, so stop() reaches node's children
        )
    try:
        startup = _wait_ready(process, ready, started, timeout, log)
        yield Server(name, process, f"http://127.0.0.1:{port}", startup, log)
    finally:
        _stop(process)


def _wait_ready(
    process: subprocess.Popen[bytes],
    ready: httpx.Request,
    started: float,
    timeout: float,
    log: Path,
) -> float:
    with httpx.Client(timeout=2.0) as client:
        while True:
            if process.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{log.name}: exited with {process.returncode}\n{tail}")
            try:
                if client.send(ready).is_success:
                    return time.perf_counter() - started
            except httpx.TransportError:
                pass
            if time.perf_counter() - started > timeout:
                raise TimeoutError(f"{log.name}: no good answer within {timeout}s")
            time.sleep(0.005)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
