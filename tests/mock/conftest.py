"""Shared fixtures for the mock's tests: contracts by name, engines, running servers."""

from __future__ import annotations

from pathlib import Path

import pytest

from authsvc.contract import Contract, load_contract

CONTRACTS = Path(__file__).resolve().parents[1] / "contracts"


@pytest.fixture(scope="session")
def contracts() -> dict[str, Contract]:
    """Every test contract, loaded once, by file name (not the hostile ones: they must fail)."""
    return {
        path.name: load_contract(path)
        for path in sorted(CONTRACTS.glob("*.yaml"))
        if not path.name.startswith(("mock-hostile-", "loader-"))
    }
