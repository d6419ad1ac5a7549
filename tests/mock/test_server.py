"""The ASGI adapter's own duties: delay, hot reload, and the validation proxy."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from app.contract import Contract
from app.mock import MockApp, MockOptions
from tests.mock.conftest import CONTRACTS
from tests.mock.corpus import BEARER, RESEND
from tests.mock.servers import running_mock


def test_server__delay_is_applied(contracts: dict[str, Contract]) -> None:
    with running_mock(MockApp(contracts["seed.yaml"])) as url:
        started = time.perf_counter()
        httpx.post(url + RESEND, headers={**BEARER, "Prefer": "delay=300"})
        assert time.perf_counter() - started >= 0.3


@pytest.mark.parametrize(
    ("replacement", "reloaded", "status"),
    [("Invite mail sent successfully", True, 200), ("openapi: 3.1.0\npaths: 1\n", False, 200)],
    ids=["valid-edit-is-served", "broken-edit-keeps-old-contract"],
)
def test_server__reload(tmp_path: Path, replacement: str, reloaded: bool, status: int) -> None:
    spec = tmp_path / "seed.yaml"
    spec.write_text((CONTRACTS / "seed.yaml").read_text())
    from app.contract import load_contract

    app = MockApp(load_contract(spec))
    if reloaded:
        spec.write_text(spec.read_text().replace(replacement, "Reloaded"))
    else:
        spec.write_text(replacement)
    assert app.reload() is reloaded
    with running_mock(app) as url:
        response = httpx.post(url + RESEND, headers=BEARER)
    assert response.status_code == status
    assert ("Reloaded" in response.text) is reloaded


@pytest.mark.parametrize(
    ("path", "headers", "errors", "status", "violation"),
    [
        (RESEND, BEARER, False, 200, None),
        (
            "/customers/x/users/y/resend-invite",
            BEARER,
            False,
            400,
            ["request", "path", "customerid"],
        ),
        (
            "/customers/x/users/y/resend-invite",
            BEARER,
            True,
            500,
            ["request", "path", "customerid"],
        ),
    ],
    ids=["clean", "violation-reported", "errors-flag"],
)
def test_server__proxy_validates_upstream_traffic(
    contracts: dict[str, Contract], path: str, headers: dict[str, str], errors: bool,
    status: int, violation: list[str] | None,
) -> None:  # fmt: skip
    with running_mock(MockApp(contracts["seed.yaml"])) as upstream:
        proxy = MockApp(contracts["seed.yaml"], MockOptions(errors=errors), proxy=upstream)
        with running_mock(proxy) as url:
            response = httpx.post(url + path, headers=headers)
    assert response.status_code == status
    if violation is None:
        assert "sl-violations" not in response.headers
    elif errors:
        assert response.json()["validation"][0]["location"] == violation
    else:
        assert json.loads(response.headers["sl-violations"])[0]["location"] == violation
