"""Dynamic bodies (`authsvc.mock.engine.generator`): valid against their schema, repeatable with a seed."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authsvc.contract import Contract, load_contract, strip_properties, to_json_schema
from authsvc.contract.dialect import FORMATS, validator_class
from authsvc.mock.engine.generator import generate
from authsvc.mock.engine.model import MockOptions, MockRequest
from authsvc.mock.engine.pipeline import MockEngine
from authsvc.mock.engine.sampler import sample


def make_validator(schema: Any, *, is_31: bool) -> Any:
    """A validator for a schema without references: the contract's dialect and formats."""
    return validator_class(is_31=is_31)(schema, format_checker=FORMATS)


SCHEMAS: dict[str, dict[str, Any]] = {
    "int-bounds": {"type": "integer", "minimum": 5, "maximum": 9},
    "int-exclusive": {"type": "integer", "exclusiveMinimum": 5, "exclusiveMaximum": 9},
    "int-multiple-of": {"type": "integer", "minimum": 10, "maximum": 100, "multipleOf": 7},
    "int-negative-multiple": {"type": "integer", "maximum": -10, "multipleOf": 3},
    "number-multiple-of": {"type": "number", "minimum": 0.5, "maximum": 2, "multipleOf": 0.25},
    "number-exclusive": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
    "number-only-maximum": {"type": "number", "maximum": -5},
    "string-length": {"type": "string", "minLength": 30, "maxLength": 32},
    "string-short": {"type": "string", "maxLength": 3},
    "pattern": {"type": "string", "pattern": r"^[A-Z]{3}-\d{2,4}$"},
    "pattern-alternation": {"type": "string", "pattern": "^(foo|bar)+$"},
    "uuid": {"type": "string", "format": "uuid"},
    "date-time": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
    "email": {"type": "string", "format": "email"},
    "uri": {"type": "string", "format": "uri"},
    "ipv4": {"type": "string", "format": "ipv4"},
    "ipv6": {"type": "string", "format": "ipv6"},
    "enum": {"enum": ["a", "b", 3]},
    "const": {"const": {"x": 1}},
    "type-list-with-null": {"type": ["string", "null"]},
    "unique-items": {
        "type": "array",
        "items": {"type": "integer", "minimum": 0, "maximum": 2},
        "uniqueItems": True,
        "minItems": 2,
    },
    "array-bounds": {"type": "array", "items": {"type": "boolean"}, "minItems": 2, "maxItems": 4},
    "prefix-items": {
        "type": "array",
        "prefixItems": [{"type": "integer"}, {"type": "string"}],
        "items": False,
    },
    "closed-object": {
        "type": "object",
        "required": ["id", "name"],
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string", "minLength": 1},
            "tag": {"type": "string"},
        },
        "additionalProperties": False,
    },
    "min-properties-map": {
        "type": "object",
        "minProperties": 2,
        "additionalProperties": {"type": "integer"},
    },
    "all-of": {
        "allOf": [
            {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}}},
            {"type": "object", "required": ["b"], "properties": {"b": {"type": "string"}}},
        ]
    },
    "one-of": {"oneOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": "^x+$"}]},
    "any-of": {"anyOf": [{"type": "boolean"}, {"type": "null"}]},
    "not": {"type": "integer", "not": {"const": 0}, "minimum": 0, "maximum": 3},
    "required-without-properties": {"type": "object", "required": ["x"]},
    "unevaluated-properties": {
        "type": "object",
        "properties": {"a": {"type": "integer"}},
        "unevaluatedProperties": False,
    },
}

_PROPERTY = settings(
    max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


@pytest.mark.parametrize("name", list(SCHEMAS), ids=list(SCHEMAS))
@_PROPERTY
@given(seed=st.text(max_size=12))
def test_generator__valid_and_repeatable(name: str, seed: str) -> None:
    schema = SCHEMAS[name]
    validator = make_validator(schema, is_31=True)
    value = generate(schema, validator, seed=seed)
    assert validator.is_valid(value), value
    assert generate(schema, validator, seed=seed) == value


@pytest.mark.parametrize(
    "name",
    ["int-bounds", "string-length", "pattern", "uuid", "date-time", "enum", "closed-object"],
    ids=["int", "string", "pattern", "uuid", "date-time", "enum", "object"],
)
def test_generator__seeds_vary_the_body(name: str) -> None:
    schema = SCHEMAS[name]
    validator = make_validator(schema, is_31=True)
    values = [repr(generate(schema, validator, seed=str(seed))) for seed in range(20)]
    assert len(set(values)) > 1


def test_generator__unsatisfiable_falls_back_to_the_static_sample() -> None:
    schema = {"type": "integer", "minimum": 4, "not": {"type": "integer"}}
    validator = make_validator(schema, is_31=True)
    assert generate(schema, validator, seed="1") == sample(schema) == 4


def test_generator__write_only_properties_left_out() -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "password": {"type": "string", "writeOnly": True},
        },
    }
    validator = make_validator(strip_properties(schema, "writeOnly"), is_31=True)
    bodies = [generate(schema, validator, seed=str(seed)) for seed in range(20)]
    assert all("password" not in body for body in bodies)
    assert any("name" in body for body in bodies)


@pytest.mark.parametrize(
    ("contract", "schema_name"),
    [
        ("petstore-30.yaml", "Pet"),
        ("petstore-30.yaml", "NewPet"),
        ("petstore-30.yaml", "Error"),
        ("library-31.yaml", "Book"),
        ("library-31.yaml", "NewBook"),
    ],
    ids=["pet-nullable-3.0", "new-pet-closed-3.0", "error-int32-3.0", "book-3.1", "new-book-tuple-3.1"],
)  # fmt: skip
def test_generator__contract_schemas(
    contracts: dict[str, Contract], contract: str, schema_name: str
) -> None:
    loaded = contracts[contract]
    schema = to_json_schema(
        loaded.resolved["components"]["schemas"][schema_name], is_31=loaded.is_31
    )
    validator = loaded.compile_schema(schema)
    for seed in map(str, range(15)):
        value = generate(schema, validator, seed=seed, root=loaded.refs)
        assert validator.is_valid(value), value
        assert generate(schema, validator, seed=seed, root=loaded.refs) == value


_TREE = {
    "openapi": "3.1.0",
    "info": {"title": "tree", "version": "1"},
    "paths": {},
    "components": {
        "schemas": {
            "Node": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
                },
            }
        }
    },
}


def test_generator__recursive_schema_terminates_and_is_valid() -> None:
    contract = load_contract(_TREE)
    root = contract.refs
    # The contract's registry lets the validator follow the cyclic `$ref` into the document.
    schema = {"$ref": "urn:authsvc:contract#/components/schemas/Node"}
    validator = contract.compile_schema(schema)
    for seed in map(str, range(15)):
        value = generate(schema, validator, seed=seed, root=root)
        assert validator.is_valid(value), value
        assert generate(schema, validator, seed=seed, root=root) == value


def test_generator__recursive_schema_with_the_mocks_own_validator() -> None:
    contract = load_contract(_TREE)
    root = contract.refs
    schema = to_json_schema(contract.resolved["components"]["schemas"]["Node"], is_31=True)
    validator = contract.compile_schema(schema)
    for seed in map(str, range(15)):
        assert validator.is_valid(generate(schema, validator, seed=seed, root=root))
    assert not validator.is_valid({"name": "leaf", "children": [{"name": 1}]})


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
def test_engine__serves_a_recursive_response_schema(dynamic: bool) -> None:
    document = copy.deepcopy(_TREE)
    document["paths"] = {
        "/tree": {
            "get": {
                "responses": {
                    "200": {
                        "description": "a tree",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Node"}}
                        },
                    }
                }
            }
        }
    }
    engine = MockEngine(load_contract(document), MockOptions(dynamic=dynamic, seed="1"))
    response = engine.handle(MockRequest("GET", "/tree"))
    assert response.status == 200
    assert json.loads(response.body)["name"]
    if dynamic:  # generated bodies are valid; Prism's sampler cuts the recursion with `{}`
        assert not any(name.lower() == "sl-violations" for name, _ in response.headers)
