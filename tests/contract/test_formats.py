"""Formats Prism's ajv-formats checks (issue 12 item 4), in the mock and in the service's
validators (Connexion's validator_map), both from the contract's one plan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from connexion import AsyncApp
from starlette.testclient import TestClient

from authsvc.contract import FORMATS, load_contract
from authsvc.mock.engine.model import MockRequest
from authsvc.mock.engine.pipeline import MockEngine
from authsvc.web.connexion31 import install_openapi31_support, validator_map

CONTRACT = Path(__file__).resolve().parents[1] / "contracts" / "loader-formats.yaml"

# (query, valid?) — each is one parameter of /links with the format its name says
QUERIES = [
    ("Url=https://example.com/a", True),
    ("Url=not%20a%20url", False),
    ("host=example.com", True),
    ("host=exa_mple..com", False),
    ("template=/users/%7Bid%7D", True),
    ("template=/users/%7Bid", False),
    ("ref=../relative", True),
    ("ref=%5Cbad%20ref", False),
    ("wait=PT1H30M", True),
    ("wait=1%20hour", False),
]
IDS = [q.split("=")[0] + ("-ok" if ok else "-bad") for q, ok in QUERIES]


def links() -> dict[str, Any]:
    return {"self": "https://example.com/links"}


@pytest.mark.parametrize(("query", "valid"), QUERIES, ids=IDS)
def test_mock__checks_request_formats(query: str, valid: bool) -> None:
    engine = MockEngine(load_contract(CONTRACT))
    response = engine.handle(MockRequest.build("GET", "/links", query=query))
    assert response.status == (200 if valid else 422)


def test_mock__flags_a_relative_uri_in_its_own_answer() -> None:
    engine = MockEngine(load_contract(CONTRACT))
    response = engine.handle(MockRequest.build("GET", "/links"))
    assert 'must match format \\"uri\\"' in (response.header("sl-violations") or "")


@pytest.fixture(scope="module")
def client() -> TestClient:
    install_openapi31_support()
    contract = load_contract(CONTRACT)
    app = AsyncApp(__name__)
    app.add_api(dict(contract.raw), validator_map=validator_map(contract), strict_validation=True)
    return app.test_client()


@pytest.mark.parametrize(("query", "valid"), QUERIES, ids=IDS)
def test_service_validators__check_request_formats(
    client: TestClient, query: str, valid: bool
) -> None:
    assert client.get(f"/links?{query}").status_code == (200 if valid else 400)


@pytest.mark.parametrize(
    ("name", "value", "valid"),
    [
        ("uri", "https://example.com", True),
        ("uri", "/relative", False),
        ("uri-reference", "/relative", True),
        ("hostname", "example.com", True),
        ("hostname", "-bad-.com", False),
        ("uri-template", "/a/{b}", True),
        ("email", "a@example.com", True),
        ("ipv4", "256.1.1.1", False),
        ("date", "2024-02-30", False),
        ("date-time", "2024-02-03T04:05:06Z", True),
        ("time", "04:05:06", True),  # ajv-formats: the offset may be left out
        ("duration", "P3W", True),
        ("url", "https://example.com/x", True),
        ("url", "example.com", False),
        ("int32", 2**31, False),
        ("byte", "not base64!", False),
    ],
)
def test_formats__checked_as_ajv_formats_does(name: str, value: Any, valid: bool) -> None:
    assert FORMATS.conforms(value, name) is valid
