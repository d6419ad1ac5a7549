"""Static bodies (`authsvc.mock.engine.sampler`): the value Prism serves for a schema without an example."""

from __future__ import annotations

import re
from typing import Any

import pytest

from authsvc.contract import Contract, load_contract
from authsvc.mock.engine.sampler import deterministic_uuid, infer_type, sample

UUID_V4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        # http-spec turns `example` into `examples`, which Prism's sampler reads last.
        ({"type": "integer", "example": 3, "default": 7, "enum": [9]}, 7),
        ({"type": "integer", "default": 7, "enum": [9]}, 7),
        ({"const": "fixed", "enum": ["other"]}, "fixed"),
        ({"type": "string", "enum": ["b", "a"], "examples": ["z"]}, "b"),
        ({"type": "string", "examples": ["Dune", "Emma"]}, "Dune"),
        ({"type": "object", "example": {"whole": True}, "properties": {"x": {"type": "integer"}}}, {"whole": True}),
    ],
    ids=["default-beats-example", "default-then", "const-then", "enum-first-item", "examples-first-item",
         "example-replaces-properties"],
)  # fmt: skip
def test_sampler__declared_values(schema: dict[str, Any], expected: Any) -> None:
    assert sample(schema) == expected


def test_sampler__example_first_where_http_spec_leaves_schemas_alone() -> None:
    # A document with its own jsonSchemaDialect is not rewritten: the sampler's order applies.
    schema = {"type": "integer", "example": 3, "default": 7, "enum": [9]}
    assert sample(schema, rewrite=False) == 3


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "integer", "format": "int32"}, -(2**31)),
        ({"type": "integer", "format": "int64"}, -9007199254740991),
        ({"type": "number", "format": "float"}, -3.402823669209385e38),
        ({"type": "number", "format": "double"}, -1.7976931348623157e308),
        ({"type": "integer", "format": "int32", "minimum": 5}, 5),
        ({"type": "integer", "format": "int64", "minimum": -(10**20)}, -9007199254740991),
        ({"type": "integer", "format": "int32", "minimum": 3, "exclusiveMinimum": True}, 4),
        ({"type": "string", "enum": ["first", "second"], "example": "second"}, "first"),
        ({"example": {"a": "x"}, "allOf": [{"properties": {"a": {"default": "y"}}}]}, {"a": "y"}),
        ({"type": "string", "format": "byte"}, "string"),
    ],
    ids=["int32-lower-bound", "int64-js-safe-integer", "float", "double", "own-minimum-kept",
         "minimum-clamped", "exclusive-after-bounds", "enum-beats-example", "allof-beats-example",
         "byte"],
)  # fmt: skip
def test_sampler__as_prism_after_http_spec_rewrite(schema: dict[str, Any], expected: Any) -> None:
    # Figures read from Prism 5.14 serving tests/contracts/mock-static-bodies.yaml.
    assert sample(schema) == expected


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "string"}, "string"),
        ({"type": "integer"}, 0),
        ({"type": "number"}, 0),
        ({"type": "boolean"}, True),
        ({"type": "null"}, None),
        ({"type": ["integer", "null"]}, 0),
        ({}, None),
        ({"type": "integer", "minimum": 5, "maximum": 9}, 5),
        ({"type": "integer", "exclusiveMinimum": 5}, 6),
        ({"type": "integer", "exclusiveMaximum": 5}, 4),
        ({"type": "integer", "maximum": 9}, 9),
        ({"type": "string", "minLength": 10}, "stringstri"),
        ({"type": "string", "maxLength": 3}, "str"),
        ({"type": "string", "format": "email"}, "user@example.com"),
        ({"type": "string", "format": "date-time"}, "2019-08-24T14:15:22Z"),
        ({"type": "string", "format": "date"}, "2019-08-24"),
        ({"type": "string", "format": "uri"}, "http://example.com"),
        ({"type": "string", "format": "ipv4"}, "192.168.0.1"),
        ({"type": "string", "format": "password"}, "pa$$word"),
        ({"type": "string", "format": "password", "minLength": 12}, "pa$$word_qwe"),
        ({"type": "string", "format": "uuid"}, "497f6eca-6276-4993-bfeb-53cbbbba6f08"),
        ({"minLength": 1}, "string"),
        ({"minimum": 2}, 2),
    ],
    ids=["string", "integer", "number", "boolean", "null", "first-of-type-list", "no-type",
         "minimum", "exclusive-minimum", "exclusive-maximum", "maximum", "min-length-repeats",
         "max-length-truncates", "email", "date-time", "date", "uri", "ipv4", "password",
         "password-min-length", "uuid-named-id", "type-inferred-string", "type-inferred-number"],
)  # fmt: skip
def test_sampler__by_type(schema: dict[str, Any], expected: Any) -> None:
    assert sample(schema) == expected


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "array", "items": {"type": "integer"}}, [0]),
        ({"type": "array", "items": {"type": "string"}, "minItems": 3}, ["string"] * 3),
        ({"type": "array"}, []),
        ({"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}]}, [0, "string"]),
        ({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "boolean"}}}, {"a": 0, "b": True}),
        ({"type": "object", "additionalProperties": {"type": "integer"}}, {"property1": 0, "property2": 0}),
        ({"properties": {"a": {"type": "string"}}}, {"a": "string"}),
        ({"allOf": [{"type": "object", "properties": {"a": {"type": "integer"}}},
                    {"type": "object", "properties": {"b": {"type": "string"}}}]}, {"a": 0, "b": "string"}),
        ({"oneOf": [{"type": "integer"}, {"type": "string"}]}, 0),
        ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, "string"),
        ({"type": "object", "properties": {"id": {"type": "string", "format": "uuid"}}},
         {"id": "497f6eca-6276-4993-bfeb-53cbbbba6f08"}),
    ],
    ids=["one-array-item", "min-items", "array-without-items", "prefix-items-tuple",
         "every-property", "map-property1-property2", "object-inferred", "all-of-merged",
         "one-of-first", "any-of-first", "uuid-seeded-by-property-name"],
)  # fmt: skip
def test_sampler__structures(schema: dict[str, Any], expected: Any) -> None:
    assert sample(schema) == expected


@pytest.mark.parametrize(
    ("contract", "schema_name", "expected"),
    [
        ("petstore-30.yaml", "Pet", {"id": 1, "name": "Rex", "tag": "dog"}),
        ("petstore-30.yaml", "Error", {"code": 500, "message": "something broke"}),
        ("library-31.yaml", "Book", {"isbn": "978-0441013593", "title": "Dune", "authors": ["string"],
                                     "position": [0, "string"], "rating": 0, "format": "paperback"}),
    ],
    ids=["property-examples", "property-examples-error", "examples-default-tuple-and-bounds"],
)  # fmt: skip
def test_sampler__contract_schemas(
    contracts: dict[str, Contract], contract: str, schema_name: str, expected: Any
) -> None:
    root = contracts[contract].resolved
    assert sample(root["components"]["schemas"][schema_name], root) == expected


def test_sampler__map_with_properties_and_defaults(contracts: dict[str, Contract]) -> None:
    inventory = next(
        o for o in contracts["petstore-30.yaml"].operations() if o.path == "/store/inventory"
    )
    schema = inventory.responses["200"]["content"]["application/json"]["schema"]
    assert sample(schema) == {"available": 7, "sold": 3, "property1": 0, "property2": 0}


def test_sampler__recursive_schema_terminates() -> None:
    contract = load_contract(
        {
            "openapi": "3.1.0",
            "info": {"title": "tree", "version": "1"},
            "paths": {},
            "components": {
                "schemas": {
                    "Node": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string"},
                            "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
                        },
                    }
                }
            },
        }
    )  # fmt: skip
    root = contract.resolved
    # The loader inlines one level; where the cycle closes the sampler leaves an empty object.
    assert sample(root["components"]["schemas"]["Node"], root) == {
        "name": "string",
        "children": [{"name": "string", "children": [{}]}],
    }


@pytest.mark.parametrize(
    "name", ["id", "userID", "customer_id", ""], ids=["id", "camel", "snake", "empty"]
)
def test_sampler__deterministic_uuid(name: str) -> None:
    first = deterministic_uuid(name)
    assert UUID_V4.match(first)
    assert deterministic_uuid(name) == first


def test_sampler__deterministic_uuid_differs_by_name() -> None:
    assert len({deterministic_uuid(n) for n in ("id", "userID", "customerID", "token")}) == 4


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "string"}, "string"),
        ({"type": ["number", "null"]}, "number"),
        ({"properties": {}}, "object"),
        ({"items": {}}, "array"),
        ({"pattern": "x"}, "string"),
        ({"maximum": 1}, "number"),
        ({"description": "anything"}, None),
    ],
    ids=["explicit", "type-list", "properties", "items", "pattern", "maximum", "unknown"],
)
def test_sampler__infer_type(schema: dict[str, Any], expected: str | None) -> None:
    assert infer_type(schema) == expected
