"""Shared fixtures for the mock's tests: contracts by name, engines, running servers."""

from __future__ import annotations

from pathlib import Path

import pytest

from authsvc.contract import Contract, load_contract

CONTRACTS = Path(__file__).resolve().parents[1] / "contracts"


@pytest.fixture(scope="session")
def contracts() -> dict[str, Contract]:
    """Every test contract, loaded once, by file name (not the loader's own `loader-*.yaml`
    reproductions, several of which are refused on purpose: tests/contract_loader)."""
    paths = sorted(p for p in CONTRACTS.glob("*.yaml") if not p.name.startswith("loader-"))
    return {path.name: load_contract(path) for path in paths}
