"""Describe the machine and software a run measured, so figures can be read in context."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _mem_total_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024 / 1024, 1)
    return 0.0


def _version(command: list[str]) -> str | None:
    if shutil.which(command[0]) is None and not Path(command[0]).exists():
        return None
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (done.stdout or done.stderr).strip().splitlines()
    return text[0] if text else None


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def describe(prism: list[str] | None) -> dict[str, object]:
    """CPU, cores, memory, kernel, Python and the versions of everything measured."""
    packages = ("connexion", "starlette", "uvicorn", "jsonschema", "SQLAlchemy", "respx", "httpx")
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": _mem_total_gb(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": {name: _safe_version(name) for name in packages},
        "wrk": _version(["wrk", "-v"]),
        "node": _version(["node", "--version"]),
        "prism": _version([*prism, "--version"]) if prism else None,
        "postgres": _version(["/usr/lib/postgresql/15/bin/postgres", "--version"]),
        "loadavg_at_start": loadavg(),
    }


def _safe_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
