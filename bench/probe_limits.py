"""The figures of docs/reliability.md's HTTP limits: issue 10's probe, replayed against `authsvc serve`.

Not a test (nothing asserts a timing): `python -m bench.probe_limits` starts the service
with its default limits on a loopback port, attacks it as the issue's probe did, scaled to finish
in about a minute, and prints one JSON object of what it measured. Bounded in time and sockets.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
import threading
import time
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

from tests.support.processes import free_port, running

HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
MB = 1024 * 1024


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def status_of(raw: bytes) -> int | None:
    parts = raw.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def ask(port: int, data: bytes = HEALTHZ, timeout: float = 15.0) -> tuple[int | None, float]:
    started = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(data)
            raw = b""
            while chunk := sock.recv(65536):
                raw += chunk
    except OSError:
        return None, time.monotonic() - started
    return status_of(raw), time.monotonic() - started


def stream(port: int, head: bytes, total: int) -> dict[str, Any]:
    """Send `head` then filler up to `total` bytes, as fast as the server reads; what came back."""
    sent, raw = 0, b""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        try:
            sock.sendall(head)
            chunk = b"a" * MB
            while sent < total:
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass
        with suppress(OSError):
            while part := sock.recv(65536):
                raw += part
    return {
        "status": status_of(raw),
        "sent_mb": round(sent / MB, 1),
        "seconds": round(time.monotonic() - started, 3),
    }


def bystanders(port: int, stop: threading.Event, latencies: list[float]) -> None:
    while not stop.is_set():
        status, seconds = ask(port)
        if status == 200:
            latencies.append(seconds)
        time.sleep(0.05)


def main() -> int:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="authsvc-probe-") as tmp:
        port = free_port()
        args = ["serve", "--data-dir", f"{tmp}/data", "--port", str(port)]
        with running(
            args, log_path=Path(tmp) / "serve.log", port=port, ready_path="/healthz"
        ) as live:
            pid = live.process.pid
            log_before = live.log_path.stat().st_size

            for name, head in (
                ("header_120mb", b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: "),
                ("url_120mb", b"GET /"),
            ):
                stop, latencies = threading.Event(), []
                watcher = threading.Thread(target=bystanders, args=(port, stop, latencies))
                watcher.start()
                cpu = cpu_seconds(pid)
                outcome = stream(port, head, 120 * MB)
                stop.set()
                watcher.join()
                outcome["server_cpu_s"] = round(cpu_seconds(pid) - cpu, 3)
                outcome["bystander_max_s"] = round(max(latencies, default=0.0), 3)
                results[name] = outcome

            rss = rss_mb(pid)
            peak = rss
            outcomes: list[dict[str, Any]] = []
            threads = [
                threading.Thread(
                    target=lambda: outcomes.append(
                        stream(port, b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Never-Ends: ", 40 * MB)
                    )
                )
                for _ in range(10)
            ]
            for thread in threads:
                thread.start()
            while any(t.is_alive() for t in threads):
                peak = max(peak, rss_mb(pid))
                time.sleep(0.05)
            results["unterminated_10x40mb"] = {
                "statuses": sorted({str(o["status"]) for o in outcomes}),
                "max_sent_mb": max(o["sent_mb"] for o in outcomes),
                "rss_before_mb": round(rss, 1),
                "rss_peak_mb": round(peak, 1),
            }

            with ExitStack() as stack:
                slow = [
                    stack.enter_context(socket.create_connection(("127.0.0.1", port)))
                    for _ in range(200)
                ]
                for sock in slow:
                    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
                started = time.monotonic()
                open_at: dict[str, int] = {}
                for mark in (9.0, 11.0):
                    time.sleep(max(0.0, started + mark - time.monotonic()))
                    open_at[f"{mark:.0f}s"] = open_fds(pid)
                results["slowloris_200"] = {"server_fds_at": open_at}

            with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
                sock.recv(65536)
                started = time.monotonic()
                with suppress(OSError):
                    while sock.recv(65536):
                        pass
                results["idle_keepalive_closed_after_s"] = round(time.monotonic() - started, 2)

            count = 5000
            max_fds = 0
            with ExitStack() as stack:
                made = 0
                for _ in range(count):
                    try:
                        stack.enter_context(
                            socket.create_connection(("127.0.0.1", port), timeout=5)
                        )
                        made += 1
                    except OSError:
                        continue
                    if made % 250 == 0:
                        max_fds = max(max_fds, open_fds(pid))
                while_held = ask(port)
                max_fds = max(max_fds, open_fds(pid))
                started = time.monotonic()
                while (status := ask(port)[0]) != 200 and time.monotonic() - started < 15:
                    time.sleep(0.2)
                results["idle_sockets_5000"] = {
                    "connected": made,
                    "server_fds_max": max_fds,
                    "request_while_held": while_held[0],
                    "served_again_after_s": round(time.monotonic() - started, 2),
                    "status_then": status,
                }
            log = live.output()
            results["log"] = {
                "bytes_during_probe": live.log_path.stat().st_size - log_before,
                "accept_out_of_resource_lines": log.count("out of system resource"),
                "tracebacks": log.count("Traceback"),
            }
    json.dump(results, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
