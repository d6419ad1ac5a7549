"""Suite 4b: contract test time, the schemathesis CLI with a fixed example count and seed.

Timed against the live service and, as the reference, against `authsvc mock` serving the same
contract at the same base path. Only the time is a figure; the exit code is reported, not judged
(checks that fail are the test suite's business, not the benchmark's).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ST = str(Path(sys.executable).parent / "st")


def run_schemathesis(
    schema_url: str, *, token: str, examples: int, base_url: str | None = None
) -> dict[str, Any]:
    """Wall time of one `st run` (examples + fuzzing phases, seed 1, one worker)."""
    command = [
        ST, "run", schema_url, "-H", f"Authorization: Bearer {token}",
        "--max-examples", str(examples), "--seed", "1", "--phases", "examples,fuzzing",
        "--workers", "1",
    ]  # fmt: skip
    if base_url:
        command += ["--url", base_url]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):  # 1: some check failed; anything else: it did not run
        raise RuntimeError(f"schemathesis exited {done.returncode}: {done.stderr[-2000:]}")
    cases = re.findall(r"(\d+) (?:generated|test cases)", done.stdout)
    return {"seconds": elapsed, "exit_code": done.returncode, "cases": cases[-1] if cases else None}
