"""Violations as Prism lists them (issue 19 item 4): one per missing property, an object's
`required` before what is wrong inside it, `contains` in ajv's words; and the empty path segment."""

from __future__ import annotations

import json
from typing import Any

import pytest

from authsvc.contract import load_contract
from authsvc.mock.engine.model import MockRequest
from authsvc.mock.engine.pipeline import MockEngine

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "t", "version": "1"},
    "paths": {
        "/users": {
            "post": {
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                # properties before required, as many documents have them
                                "properties": {
                                    "role": {"enum": ["admin", "member"]},
                                    "tags": {"type": "array", "contains": {"const": "vip"}},
                                },
                                "required": ["first_name", "last_name", "email"],
                            }
                        }
                    }
                },
                "responses": {"201": {"description": "created"}},
            }
        },
        "/groups/{group}/users": {
            "get": {
                "parameters": [
                    {"name": "group", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {"200": {"description": "users"}},
            }
        },
    },
}


@pytest.fixture(scope="module")
def engine() -> MockEngine:
    return MockEngine(load_contract(DOCUMENT))


def _violations(engine: MockEngine, body: dict[str, Any]) -> list[tuple[list[str], str, str]]:
    request = MockRequest.build(
        "POST",
        "/users",
        headers={"Content-Type": "application/json"},
        body=json.dumps(body).encode(),
    )
    response = engine.handle(request)
    assert response.status == 422
    return [(v["location"], v["code"], v["message"]) for v in response.json()["validation"]]


@pytest.mark.parametrize(("given", "missing"), [({"first_name": "A"}, 2), ({}, 3)], ids=["2", "3"])
def test_violations__one_entry_per_missing_property(
    engine: MockEngine, given: dict[str, Any], missing: int
) -> None:
    """Before: 2 missing properties gave 4 entries, 3 gave 9 (each error listed them all)."""
    found = _violations(engine, given)
    assert len(found) == missing
    assert len({message for _, _, message in found}) == missing


def test_violations__required_before_what_is_wrong_inside(engine: MockEngine) -> None:
    found = _violations(engine, {"first_name": "A", "last_name": "B", "role": "owner"})
    assert [code for _, code, _ in found] == ["required", "enum"]


def test_violations__contains_in_ajvs_words(engine: MockEngine) -> None:
    found = _violations(engine, {"first_name": "A", "last_name": "B", "email": "e", "tags": ["x"]})
    assert found == [
        (["body", "tags", "0"], "const", "Request body property tags.0 must be equal to constant"),
        (
            ["body", "tags"],
            "contains",
            "Request body property tags must contain at least 1 valid item(s)",
        ),
    ]


def test_routing__an_empty_segment_is_a_value(engine: MockEngine) -> None:
    """Prism matches `/groups//users` with an empty `group`; it was collapsed to a 404."""
    response = engine.handle(MockRequest.build("GET", "/groups//users"))
    assert response.status == 200
