"""The contract and its Swagger UI, as a person would see them: rendered in headless Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest
from connexion import AsyncApp
from starlette.testclient import TestClient

from tests.support.live_server import live_server

UI = "/auth/api/v1/ui/"


def chromium() -> str | None:
    return (
        os.environ.get("AUTHSVC_TEST_CHROMIUM_BIN")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
    )


def test_openapi_json__is_the_31_contract(client: TestClient) -> None:
    document = client.get("/auth/api/v1/openapi.json").json()
    assert document["openapi"] == "3.1.0"
    assert "/customers/{customerID}/users/{userID}/resend-invite" in document["paths"]


def test_swagger_ui__serves_the_5x_bundle(client: TestClient) -> None:
    page = client.get(UI)
    assert page.status_code == 200
    assert "swagger-ui-bundle.js" in page.text
    bundle = client.get(UI + "swagger-ui-bundle.js")
    assert bundle.status_code == 200


def test_swagger_ui__renders_the_31_contract_in_chromium(app: AsyncApp) -> None:
    binary = chromium()
    if binary is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("chromium is required in CI (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    with live_server(app) as base, tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run(
            [
                binary,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--virtual-time-budget=15000",
                "--dump-dom",
                base + UI,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
    assert "Customer User Resend Invitation" in dom, dom[-2000:]
    assert "Unable to render this definition" not in dom
    assert "/customers/{customerID}/users/{userID}/resend-invite" in dom
