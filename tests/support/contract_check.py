"""Assert a response is one the contract documents: status, media type, body schema, headers.

Works for every operation of both contracts (the API under its base path, the operations
endpoints at the root): the operation is found from the response's own request (method and path),
or named by operationId.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import httpx
from jsonschema import Draft202012Validator

from authsvc.contract import Contract, Operation, default_contract_path, load_contract

# The operation the first tests were written for; `documented_response(status)` means it.
SEED_OPERATION = "customers.resend_invite"


@cache
def contract(name: str = "auth-service.yaml") -> Contract:
    return load_contract(default_contract_path(name))


@cache
def routes() -> tuple[tuple[str, re.Pattern[str], Operation], ...]:
    """(method, full-path pattern, operation) for every operation of both contracts."""
    routes = []
    for name in ("auth-service.yaml", "operations.yaml"):
        document = contract(name)
        for operation in document.operations():
            template = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(operation.path))
            pattern = re.compile(f"^{re.escape(document.base_path)}{template}$")
            routes.append((operation.method.upper(), pattern, operation))
    return tuple(routes)


def operation(operation_id: str) -> Operation:
    """The operation with this operationId, in either contract."""
    for _, _, candidate in routes():
        if candidate.operation_id == operation_id:
            return candidate
    raise AssertionError(f"no operation {operation_id!r} in the contract")


def operation_for(method: str, path: str) -> Operation:
    """The documented operation that serves `method path` (the full URL path)."""
    matches = [op for m, pattern, op in routes() if m == method.upper() and pattern.match(path)]
    assert matches, f"{method} {path} is not a documented operation"
    # A literal segment beats a template (`/users/{userID}` vs a longer literal path): the most
    # specific match is the one with the fewest templated segments.
    return min(matches, key=lambda op: op.path.count("{"))


def documented_response(status: int, operation_id: str = SEED_OPERATION) -> dict[str, Any]:
    responses = operation(operation_id).responses
    assert str(status) in responses, f"status {status} is not documented for {operation_id}"
    return dict(responses[str(status)])


def _declares_email(schema: Any) -> bool:
    if isinstance(schema, dict):
        return schema.get("format") == "email" or any(_declares_email(v) for v in schema.values())
    if isinstance(schema, list):
        return any(_declares_email(v) for v in schema)
    return False


def assert_documented(response: httpx.Response, operation_id: str | None = None) -> dict[str, Any]:
    """The body of a documented JSON response (fails on anything undocumented)."""
    if operation_id is None:
        found = operation_for(response.request.method, response.request.url.path)
        operation_id = str(found.operation_id)
    documented = documented_response(response.status_code, operation_id)
    assert response.headers["content-type"].split(";")[0] == "application/json"
    schema = documented["content"]["application/json"]["schema"]
    body = response.json()
    Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER).validate(body)
    for name, header in (documented.get("headers") or {}).items():
        if header.get("required"):
            assert name in response.headers, f"documented header {name} missing"
    text = response.text
    assert "Traceback" not in text
    if not _declares_email(schema):  # no e-mail address leaks where the answer has none
        assert "@" not in text
    assert isinstance(body, dict)
    return body


def example_of(status: int, operation_id: str = SEED_OPERATION, name: str | None = None) -> Any:
    """The documented example of an answer: `example`, or the named one of `examples`."""
    media = documented_response(status, operation_id)["content"]["application/json"]
    if name is None and "example" in media:
        return media["example"]
    examples = media["examples"]
    return examples[name or next(iter(examples))]["value"]
