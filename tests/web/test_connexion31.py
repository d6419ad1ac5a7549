"""The Connexion 3.1 adaptation (app/web/connexion31.py): 3.1 documents load, 2020-12 semantics apply."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from connexion import AsyncApp
from connexion.exceptions import InvalidSpecification
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from authsvc.contract import ContractError, load_contract
from authsvc.contract.dialect import first_error
from authsvc.web.connexion31 import (
    check_parameters_supported,
    install_openapi31_support,
    validator_map,
)

UUID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"

SCHEMAS_31 = [
    ({"type": ["integer", "null"]}, None, "x"),
    ({"const": "fail"}, "fail", "ok"),
    ({"type": "array", "prefixItems": [{"type": "integer"}], "items": False}, [1], [1, 2]),
    ({"type": "string", "format": "uuid"}, UUID, "not-a-uuid"),
    ({"type": "number", "exclusiveMinimum": 0}, 0.5, 0),
    ({"not": True}, None, 1),
]


@pytest.mark.parametrize(
    ("schema", "valid", "invalid"),
    SCHEMAS_31,
    ids=["type-array", "const", "prefixItems", "uuid", "exclusiveMinimum", "boolean-subschema"],
)
def test_draft_2020_12__applies_31_semantics(
    schema: dict[str, Any], valid: Any, invalid: Any
) -> None:
    validator = load_contract(_document(**schema)).compile_schema(schema)
    if schema != {"not": True}:
        assert validator.is_valid(valid)
    assert not validator.is_valid(invalid)


def _document(**body_schema: Any) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/things/{thingID}": {
                "post": {
                    "operationId": "tests.web.test_connexion31.echo",
                    "parameters": [
                        {
                            "name": "thingID",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "format": "uuid"},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": body_schema}},
                    },
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {"status": {"const": "ok"}},
                                        "required": ["status"],
                                    }
                                }
                            },
                        }
                    },
                }
            }
        },
    }


def echo(thing_id: str, body: Any) -> tuple[dict[str, str], int]:
    return {"status": "ok"}, 200


@pytest.fixture
def client() -> TestClient:
    install_openapi31_support()
    app = AsyncApp(__name__)
    document = _document(
        type="object", properties={"n": {"type": ["integer", "null"]}}, required=["n"]
    )
    app.add_api(
        document,
        validator_map=validator_map(load_contract(document)),
        pythonic_params=True,
        strict_validation=True,
        validate_responses=True,
    )
    return app.test_client()


@pytest.mark.parametrize(
    ("thing", "body", "status"),
    [
        (UUID, {"n": 1}, 200),
        (UUID, {"n": None}, 200),
        ("not-a-uuid", {"n": 1}, 400),
        (UUID, {"n": "one"}, 400),
    ],
    ids=["valid", "null-by-type-array", "uuid-format-enforced", "type-array-rejects"],
)
def test_connexion__validates_a_31_document_with_2020_12(
    client: TestClient, thing: str, body: Any, status: int
) -> None:
    assert client.post(f"/things/{thing}", json=body).status_code == status


def test_install__is_idempotent_and_keeps_30_validation() -> None:
    install_openapi31_support()
    install_openapi31_support()
    from connexion.spec import Specification

    document = _document(type="object")
    assert Specification.from_dict(copy.deepcopy(document)).version == (3, 1, 0)
    broken = copy.deepcopy(document)
    del broken["info"]["title"]
    with pytest.raises(InvalidSpecification):
        Specification.from_dict(broken)
    legacy = copy.deepcopy(document)
    legacy["openapi"] = "3.0.3"
    legacy["paths"]["/things/{thingID}"]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ] = {"type": ["integer", "null"]}  # not 3.0: the stock 3.0 check still refuses it
    with pytest.raises(InvalidSpecification):
        Specification.from_dict(legacy)


def test_check_parameters_supported__refuses_type_arrays_in_parameters() -> None:
    document = _document(type="object")
    parameter = document["paths"]["/things/{thingID}"]["post"]["parameters"][0]
    parameter["schema"] = {"type": ["string", "null"]}
    with pytest.raises(ContractError, match="type arrays"):
        check_parameters_supported(load_contract(document))


PARAMETER: dict[str, Any] = {
    "name": "userID",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "format": "uuid", "maxLength": 36},
}
NUMBER: dict[str, Any] = {"name": "n", "in": "query", "schema": {"type": "integer", "const": 1}}


def _parameter_contract() -> Any:
    document = _document(type="object")
    operation = document["paths"]["/things/{thingID}"]["post"]
    operation["parameters"] = [PARAMETER, NUMBER]
    document["paths"] = {"/things/{userID}": document["paths"]["/things/{thingID}"]}
    return load_contract(document)


PARAMETER_CONTRACT = _parameter_contract()
PARAMETER_PLAN = next(iter(PARAMETER_CONTRACT.plans.values()))
PARAMETER_VALIDATOR = validator_map(PARAMETER_CONTRACT)["parameter"]([], uri_parser=None)
PARAMETER_VALIDATOR._plan = PARAMETER_PLAN


@settings(max_examples=200)
@given(
    value=st.one_of(
        st.uuids().map(str),
        st.text(max_size=40),
        st.integers(-2, 2),
        st.booleans(),
        st.floats(allow_nan=False, min_value=-2, max_value=2),
    ),
    asked=st.integers(min_value=1, max_value=3),
)
def test_parameter_verdicts__remembered_verdicts_equal_fresh_ones(value: Any, asked: int) -> None:
    for param in (PARAMETER, NUMBER):
        fresh = next(
            iter(PARAMETER_CONTRACT.compile_schema(param["schema"]).iter_errors(value)), None
        )
        expected = None if fresh is None else f"{param['name']}: {fresh.message}"
        for _ in range(asked):  # the first answer is computed, later ones remembered
            location = param["in"]
            assert PARAMETER_VALIDATOR.validate_parameter(location, value, param) == expected


def test_parameter_verdicts__live_in_the_plan_and_are_bounded() -> None:
    check = PARAMETER_PLAN.parameter("query", "n")
    assert check is not None
    for value in range(10_000):
        assert check.first_message(value) == (
            None if value == 1 else first_error(check.validator, value).message
        )  # type: ignore[union-attr]
    assert len(check._verdicts._items) <= 4096
