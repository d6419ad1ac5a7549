"""What the server's limits cost per request, against the protocols they could have been built on.

Not a test: `python -m bench.probe_protocols` serves a trivial ASGI app (so the
protocol's own cost is not hidden behind the service's) under uvicorn with httptools, with
`authsvc.web.http_server`'s limited httptools protocol, and with h11 (whose
`h11_max_incomplete_event_size` is the one size limit uvicorn has), drives each with `wrk` at 16
connections, alternating subjects for a few rounds, and prints the median req/s of each as JSON.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import time

from tests.support.processes import free_port, wait_for_http

SERVER = """
import sys, uvicorn
from authsvc.web.http_server import HttpLimits, uvicorn_config

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"{}"})

kind, port = sys.argv[1], int(sys.argv[2])
options = dict(host="127.0.0.1", port=port, log_level="warning", access_log=False, loop="asyncio")
if kind == "limited":
    config = uvicorn_config(app, limits=HttpLimits(), **options)
elif kind == "h11":
    config = uvicorn.Config(app, http="h11", h11_max_incomplete_event_size=64 * 1024, **options)
else:
    config = uvicorn.Config(app, http="httptools", **options)
uvicorn.Server(config).run()
"""


def measure(kind: str, seconds: float) -> float:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, kind, str(port)])
    try:
        wait_for_http(f"http://127.0.0.1:{port}/", process=server)
        out = subprocess.run(
            ["wrk", "-t1", "-c16", f"-d{int(seconds)}s", f"http://127.0.0.1:{port}/"],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 30,
        ).stdout
    finally:
        server.terminate()
        server.wait(timeout=10)
    line = next(line for line in out.splitlines() if line.startswith("Requests/sec:"))
    return float(line.split()[1])


def main(rounds: int = 5, seconds: float = 5.0) -> int:
    if shutil.which("wrk") is None:
        print("probe_protocols: needs wrk", file=sys.stderr)
        return 2
    samples: dict[str, list[float]] = {"httptools": [], "limited": [], "h11": []}
    for _ in range(rounds):
        for kind in samples:
            samples[kind].append(measure(kind, seconds))
            time.sleep(0.5)
    medians = {kind: statistics.median(values) for kind, values in samples.items()}
    print(
        json.dumps(
            {
                "rounds": rounds,
                "seconds": seconds,
                "median_req_s": medians,
                "samples": samples,
                "limited_vs_httptools": round(medians["limited"] / medians["httptools"], 3),
                "h11_vs_httptools": round(medians["h11"] / medians["httptools"], 3),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
