"""bench/report.py pairs: after/before and FULL/NORMAL ratios, CPU per request included."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.before import installed
from bench.report import _before_after


def sample(subject: str, rps: float, cpu: float) -> dict[str, object]:
    load = {"connections": 16, "rps": rps, "p50_ms": 1.0, "p99_ms": 2.0, "rss_mb": 1.0}
    return {"subject": subject, "loads": [{**load, "cpu_ms_per_request": cpu}]}


def test_pairs__after_over_before_and_full_over_normal() -> None:
    lines = _before_after(
        [
            sample("service-sqlite", 90, 1.0),
            sample("service-sqlite@before", 100, 2.0),
            sample("service-sqlite-normal", 120, 1.0),
        ]
    )
    assert "| service-sqlite | 16 | 0.90x | 1.00x | 0.50x |" in lines
    assert "| service-sqlite | 16 | 0.75x | 1.00x | 1.00x |" in lines


def test_before__a_directory_without_pyproject__refused(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="not a source tree"), installed(tmp_path):
        pass
