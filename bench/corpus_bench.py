"""Startup and memory of `authsvc mock` and Prism on the real-world corpus, in the same run.

`python -m bench.corpus_bench [NAME ...] [--rounds N]` (needs Prism and the corpus, as the
differential test does) prints a Markdown table: seconds from process start to the first answer,
and resident memory after the document's generated requests were answered once. Figures go to
bench/results/2026-12-01-mock-corpus.md; nothing here asserts on them.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from authsvc.contract import load_contract
from tests.mock.realworld import DOCUMENTS, generate, require_documents
from tests.support.mock_servers import free_port, require_prism


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _measure(command: list[str], port: int, probe: str, cases: list[tuple[str, ...]]) -> tuple[float, float]:  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                httpx.get(base + probe, timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.perf_counter() - started > 300:
                    raise RuntimeError(f"{command[0]} did not start") from None
                time.sleep(0.02)
        startup = time.perf_counter() - started
        with httpx.Client(timeout=30) as client:
            for _id, _doc, method, url, headers, body in cases:  # type: ignore[misc]
                with contextlib.suppress(httpx.TransportError):
                    client.request(method, base + url, headers=headers, content=body)
        return startup, _rss_mb(process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("names", nargs="*")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    files = require_documents()
    prism = require_prism()
    print("| document | size MB | operations | mock startup s | Prism startup s "
          "| mock RSS MB | Prism RSS MB |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for document in DOCUMENTS:
        if args.names and document.name not in args.names:
            continue
        path = files[document.name]
        contract = load_contract(path)
        cases = list(generate(document.name, contract, document))
        probe = next(c[3] for c in cases if c[0].endswith(" unknown-path"))
        ours, theirs = [], []
        for _ in range(args.rounds):
            port = free_port()
            mock = [sys.executable, "-m", "authsvc.mock", str(path), "--port", str(port)]
            ours.append(_measure([*mock, "--no-watch"], port, probe, cases))  # type: ignore[arg-type]
            port = free_port()
            command = [*prism, "mock", "-h", "127.0.0.1", "-p", str(port), str(path)]
            theirs.append(_measure(command, port, probe, cases))  # type: ignore[arg-type]
        operations = sum(1 for _ in contract.operations())
        print(
            f"| {document.name} | {path.stat().st_size / 1e6:.2f} | {operations} "
            f"| {statistics.median(s for s, _ in ours):.2f} "
            f"| {statistics.median(s for s, _ in theirs):.2f} "
            f"| {statistics.median(r for _, r in ours):.0f} "
            f"| {statistics.median(r for _, r in theirs):.0f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
