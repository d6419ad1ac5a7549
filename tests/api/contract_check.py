"""Assert a response is one the contract documents: status, media type, body schema, headers."""

from __future__ import annotations

from typing import Any

import httpx
from jsonschema import Draft202012Validator

from authsvc.contract import Contract, default_contract_path, load_contract

_CONTRACT: Contract | None = None


def contract() -> Contract:
    global _CONTRACT
    if _CONTRACT is None:
        _CONTRACT = load_contract(default_contract_path())
    return _CONTRACT


def documented_response(status: int) -> dict[str, Any]:
    (operation,) = list(contract().operations())
    responses = operation.responses
    assert str(status) in responses, f"status {status} is not documented"
    return dict(responses[str(status)])


def assert_documented(response: httpx.Response) -> dict[str, Any]:
    """The body of a documented JSON response (fails on anything undocumented)."""
    documented = documented_response(response.status_code)
    assert response.headers["content-type"].split(";")[0] == "application/json"
    schema = documented["content"]["application/json"]["schema"]
    body = response.json()
    Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER).validate(body)
    for name, header in (documented.get("headers") or {}).items():
        if header.get("required"):
            assert name in response.headers, f"documented header {name} missing"
    text = response.text
    assert "Traceback" not in text
    assert "@" not in text
    return dict(body)


def example_of(status: int) -> Any:
    return documented_response(status)["content"]["application/json"]["example"]
