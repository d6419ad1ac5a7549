"""Loopback HTTP load: `wrk` when installed, else a bounded asyncio keep-alive loop.

Both answer the same question for one (method, URL, headers) target at a fixed connection count:
requests per second, latency percentiles and how many answers had an unexpected status. Load is
bounded in time (and, for the Python loop, in count) and only ever aimed at 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

# wrk reports through this script: one JSON line on stdout, latencies in microseconds.
_WRK_LUA = """
wrk.method = "%(method)s"
wrk.body = %(body)s
%(headers)s
local paths = {%(paths)s}
local next_path = 0
if #paths > 0 then
  request = function()
    next_path = next_path %% #paths + 1
    return wrk.format(nil, paths[next_path])
  end
end
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad_status = 0 end
function response(status, headers, body)
  if status ~= %(status)d then bad_status = bad_status + 1 end
end
function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + t:get("bad_status") end
  local e = summary.errors
  io.write(string.format(
    '{"requests":%%d,"duration_us":%%d,"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,' ..
    '"max_us":%%d,"bad_status":%%d,"socket_errors":%%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, bad,
    e.connect + e.read + e.write + e.timeout))
end
"""


@dataclass(frozen=True)
class Target:
    """One request, repeated: what to send and which status counts as success."""

    url: str
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    expect_status: int = 200
    # Request paths to take in turn (wrk only), e.g. one per user: many rows, not one hot one.
    paths: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        host = urlsplit(self.url).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"load is only ever aimed at loopback, not {host!r}")


@dataclass(frozen=True)
class LoadResult:
    tool: str
    connections: int
    seconds: float
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    bad_status: int
    socket_errors: int

    @property
    def ok(self) -> bool:
        return self.requests > 0 and self.bad_status == 0 and self.socket_errors == 0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def run_load(target: Target, *, connections: int, seconds: float, tool: str = "auto") -> LoadResult:
    """Drive `target` with `connections` keep-alive connections for `seconds`."""
    use_wrk = tool == "wrk" or (tool == "auto" and have_wrk())
    if target.paths and not use_wrk:
        raise RuntimeError("rotating paths need wrk (apt-get install wrk)")
    if use_wrk:
        return _run_wrk(target, connections=connections, seconds=seconds)
    return asyncio.run(_run_python(target, connections=connections, seconds=seconds))


def _run_wrk(target: Target, *, connections: int, seconds: float) -> LoadResult:
    headers = "\n".join(
        f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in target.headers
    )
    script = _WRK_LUA % {
        "method": target.method,
        "body": json.dumps(target.body.decode()) if target.body else "nil",
        "headers": headers,
        "status": target.expect_status,
        "paths": ", ".join(json.dumps(path) for path in target.paths),
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        # One wrk thread: the machine has two cores and the server under test needs the other.
        command = [
            "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s",
            "--timeout", "10s", "-s", handle.name, target.url,
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    finally:
        Path(handle.name).unlink()
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("{")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout}")
    raw = json.loads(line)
    duration = raw["duration_us"] / 1e6
    return LoadResult(
        tool="wrk",
        connections=connections,
        seconds=round(duration, 3),
        requests=raw["requests"],
        rps=raw["requests"] / duration,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        bad_status=raw["bad_status"],
        socket_errors=raw["socket_errors"],
    )


async def _run_python(
    target: Target, *, connections: int, seconds: float, max_requests: int = 200_000
) -> LoadResult:
    """A small HTTP/1.1 keep-alive client: enough for smoke runs where wrk is not installed."""
    parts = urlsplit(target.url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    head = [f"{target.method} {path} HTTP/1.1", f"Host: {parts.netloc}"]
    head += [f"{k}: {v}" for k, v in target.headers]
    head.append(f"Content-Length: {len(target.body)}")
    request = ("\r\n".join(head) + "\r\n\r\n").encode() + target.body
    latencies: list[float] = []
    bad = errors = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal bad, errors
        try:
            reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
        except OSError:
            errors += 1
            return
        try:
            while time.perf_counter() < deadline and len(latencies) < max_requests:
                started = time.perf_counter()
                writer.write(request)
                status = await _read_response(reader)
                latencies.append(time.perf_counter() - started)
                bad += status != target.expect_status
        except (OSError, asyncio.IncompleteReadError, ValueError):
            errors += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.wait_for(
        asyncio.gather(*(worker() for _ in range(connections))), timeout=seconds + 30
    )
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(q: float) -> float:
        return (
            latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else 0
        )

    return LoadResult(
        tool="python",
        connections=connections,
        seconds=round(elapsed, 3),
        requests=len(latencies),
        rps=len(latencies) / elapsed,
        p50_ms=statistics.median(latencies) * 1000 if latencies else 0.0,
        p90_ms=pct(0.90),
        p99_ms=pct(0.99),
        max_ms=latencies[-1] * 1000 if latencies else 0.0,
        bad_status=bad,
        socket_errors=errors,
    )


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    fields = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    if "content-length" in fields:
        await reader.readexactly(int(fields["content-length"]))
    elif fields.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status
