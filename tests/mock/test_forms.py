"""Form request bodies (issue 19 item 3), read as Prism reads them (values seen against Prism 5.14):
urlencoded and multipart fields, coerced, validated; encodings and their reserved characters."""

from __future__ import annotations

from typing import Any

import pytest

from authsvc.contract import load_contract
from authsvc.mock.engine.forms import coerce, js_number
from authsvc.mock.engine.model import MockRequest
from authsvc.mock.engine.pipeline import MockEngine

URLENCODED = "application/x-www-form-urlencoded"
DOCUMENT: dict[str, Any] = {
    "openapi": "3.0.3",
    "paths": {
        "/signup": {
            "post": {
                "requestBody": {
                    "content": {
                        URLENCODED: {
                            "schema": {
                                "type": "object",
                                "required": ["age"],
                                "properties": {
                                    "age": {"type": "integer", "maximum": 120},
                                    "name": {"type": "string"},
                                    "tags": {"type": "array", "items": {"type": "string"}},
                                    "ids": {"type": "array", "items": {"type": "integer"}},
                                },
                                "additionalProperties": False,
                            },
                            "encoding": {"ids": {"style": "form", "explode": False}},
                        },
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["age", "file"],
                                "properties": {
                                    "age": {"type": "integer"},
                                    "file": {"type": "string", "format": "binary"},
                                },
                            }
                        },
                    }
                },
                "responses": {"204": {"description": "done"}},
            }
        }
    },
}


@pytest.fixture(scope="module")
def engine() -> MockEngine:
    return MockEngine(load_contract(DOCUMENT, lenient=True))  # no `info`, as teams write them


def _post(engine: MockEngine, content_type: str, body: bytes) -> tuple[int, list[Any]]:
    response = engine.handle(
        MockRequest.build("POST", "/signup", headers={"Content-Type": content_type}, body=body)
    )
    found = response.json().get("validation", []) if response.status == 422 else []
    return response.status, [(v.get("location"), v.get("code")) for v in found]


def _multipart(**fields: str) -> bytes:
    parts = [
        f'--B\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
        for k, v in fields.items()
    ]
    return ("".join(parts) + "--B--\r\n").encode()


@pytest.mark.parametrize(
    ("content_type", "body", "status", "violations"),
    [
        (URLENCODED, b"age=30&name=Ann", 204, []),
        (URLENCODED, b"age=+30", 204, []),  # `+` is a space, and ajv trims " 30"
        (URLENCODED, b"age=121", 422, [(["body", "age"], "maximum")]),
        (URLENCODED, b"age=x", 422, [(["body", "age"], "type")]),
        (URLENCODED, b"name=Ann", 422, [(["body"], "required")]),
        (URLENCODED, b"age=1&unknown=1", 204, []),  # only the schema's properties are read
        (URLENCODED, b"age=1&tags=a", 422, [(["body", "tags"], "type")]),  # no encoding
        (URLENCODED, b"age=1&ids=1%2C2", 204, []),
        (URLENCODED, b"age=1&ids=1,2", 422, [(["body", "ids"], None)]),  # reserved `,`
        (URLENCODED, b"age=1&ids=1%2Cx", 422, [(["body", "ids", "1"], "type")]),
        ("multipart/form-data; boundary=B", _multipart(age="7", file="PNG..."), 204, []),
        ("multipart/form-data; boundary=B", _multipart(age="7"), 422, [(["body"], "required")]),
        ("multipart/form-data", b"age=7", 415, []),  # no boundary
    ],
    ids=[
        "valid",
        "plus-is-space",
        "maximum",
        "not-an-integer",
        "required",
        "unknown-field-ignored",
        "array-without-encoding",
        "encoded-comma-split",
        "reserved-comma",
        "item-type",
        "multipart-valid",
        "multipart-missing-file",
        "multipart-without-boundary",
    ],
)
def test_form_body__validated_as_prism(
    engine: MockEngine, content_type: str, body: bytes, status: int, violations: list[Any]
) -> None:
    assert _post(engine, content_type, body) == (status, violations)


@pytest.mark.parametrize(
    ("text", "number"),
    [("5", 5.0), (" 5 ", 5.0), ("1e3", 1000.0), ("0x10", 16.0), ("", 0.0), ("5a", None)],
)
def test_js_number__as_javascript_reads_it(text: str, number: float | None) -> None:
    assert js_number(text) == number


@pytest.mark.parametrize(
    ("value", "schema", "coerced"),
    [
        ("5", {"type": "integer"}, 5),
        ("5.5", {"type": "integer"}, "5.5"),
        ("5.5", {"type": "number"}, 5.5),
        ("true", {"type": "boolean"}, True),
        ("", {"type": ["integer", "null"]}, None),
        ("5", {"type": "array"}, "5"),  # never wrapped into an array (ajv's "array" mode)
        (["1", "x"], {"type": "array", "items": {"type": "integer"}}, [1, "x"]),
    ],
)
def test_coerce__as_ajv_coerce_types(value: Any, schema: Any, coerced: Any) -> None:
    assert coerce(value, schema) == coerced
