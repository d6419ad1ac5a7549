"""Negotiation (`authsvc.mock.engine.negotiation`): which status, media type and example a request gets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from authsvc.contract import Contract
from authsvc.mock.engine.negotiation import (
    NO_EXAMPLE,
    find_response,
    for_invalid_request,
    for_valid_request,
)
from authsvc.mock.engine.problems import MockProblem

TWO_PETS = [{"id": 1, "name": "Rex", "tag": "dog"}, {"id": 2, "name": "Tom", "tag": "cat"}]
SCHEMA = "<from schema>"  # the body is sampled or generated from the schema, not an example


def _responses(contract: Contract, operation_id: str) -> Mapping[str, Any]:
    return next(o for o in contract.operations() if o.operation_id == operation_id).responses


def _r(description: str, **content: Any) -> dict[str, Any]:
    return (
        {"description": description, "content": content}
        if content
        else {"description": description}
    )


@pytest.mark.parametrize(
    ("responses", "status", "example"),
    [
        ({"201": _r("a"), "200": _r("b")}, 200, None),
        ({"404": _r("x"), "204": _r("n"), "200": _r("o")}, 200, None),
        ({"2XX": _r("r"), "204": _r("n")}, 204, None),
        ({"2XX": _r("r"), "400": _r("bad")}, 200, None),
        ({"400": _r("bad"), "default": _r("d", **{"application/json": {"example": {"d": 1}}})}, 200, {"d": 1}),
        ({"404": _r("x"), "302": _r("y")}, 404, None),
        ({"4XX": _r("r")}, 400, None),
    ],
    ids=["lowest-2xx", "2xx-over-earlier-4xx", "concrete-2xx-below-range", "2xx-range-as-200",
         "default-as-200", "first-when-no-2xx-or-default", "first-range"],
)  # fmt: skip
def test_negotiation__status_without_preference(
    responses: dict[str, Any], status: int, example: Any
) -> None:
    chosen = for_valid_request(
        responses, "get", code=None, example=None, dynamic=False, accept=None
    )
    assert chosen.status == status
    assert (None if chosen.example is NO_EXAMPLE else chosen.example) == example


def test_negotiation__no_responses_is_500() -> None:
    with pytest.raises(MockProblem) as caught:
        for_valid_request({}, "get", code=None, example=None, dynamic=False, accept=None)
    assert (caught.value.status, caught.value.template.type) == (
        500,
        "NO_RESPONSE_RESPONSE_DEFINED",
    )


@pytest.mark.parametrize(
    ("operation_id", "method", "code", "example", "dynamic", "accept", "expected"),
    [
        ("pets.list", "get", None, None, False, None, (200, "application/json", TWO_PETS)),
        ("pets.list", "get", None, "empty", False, None, (200, "application/json", [])),
        ("pets.list", "get", None, None, True, None, (200, "application/json", SCHEMA)),
        ("pets.list", "get", None, None, False, "application/xml", (200, "application/xml", '<pets><pet id="1">Rex</pet></pets>')),
        ("pets.list", "get", None, None, False, "application/xml;q=0.2, application/json", (200, "application/json", TWO_PETS)),
        ("pets.list", "get", 400, None, False, None, (400, "application/json", {"code": 400, "message": "bad query"})),
        ("pets.list", "get", 500, None, False, None, (500, "application/json", SCHEMA)),
        ("pets.create", "post", None, "tom", False, None, (201, "application/json", {"id": 11, "name": "Tom", "tag": "cat"})),
        ("pets.create", "post", None, None, False, None, (201, "application/json", {"id": 10, "name": "Rex", "tag": "dog"})),
        ("pets.show", "get", None, None, False, "text/plain", (200, "text/plain", "Rex the dog")),
        ("pets.show", "get", None, None, False, None, (200, "application/json", SCHEMA)),
        ("pets.show", "get", None, None, False, "image/png, */*", (200, "application/json", SCHEMA)),
        ("pets.show", "get", 404, None, False, None, (404, "application/json", {"code": 404, "message": "no such pet"})),
        ("pets.delete", "delete", None, None, False, "image/png", (204, None, None)),
        ("pets.list", "head", None, None, False, "image/png", (200, None, None)),
    ],
    ids=["first-example", "example-by-name", "dynamic-uses-schema", "accept-picks-media-type",
         "accept-q-values", "code-picks-response", "code-falls-back-to-default",
         "example-by-name-other-op", "first-named-example", "accept-text", "no-example-uses-schema",
         "accept-wildcard-fallback", "code-with-its-example", "no-content-ignores-accept",
         "head-has-no-body"],
)  # fmt: skip
def test_negotiation__valid_request(
    contracts: dict[str, Contract], operation_id: str, method: str, code: int | None,
    example: str | None, dynamic: bool, accept: str | None, expected: tuple[int, str | None, Any],
) -> None:  # fmt: skip
    responses = _responses(contracts["petstore-30.yaml"], operation_id)
    chosen = for_valid_request(
        responses, method, code=code, example=example, dynamic=dynamic, accept=accept
    )
    body = SCHEMA if chosen.example is NO_EXAMPLE and chosen.schema is not None else chosen.example
    assert (chosen.status, chosen.media_type, None if body is NO_EXAMPLE else body) == expected


def test_negotiation__response_headers_travel_with_the_response(
    contracts: dict[str, Contract],
) -> None:
    responses = _responses(contracts["petstore-30.yaml"], "pets.list")
    chosen = for_valid_request(
        responses, "get", code=None, example=None, dynamic=False, accept=None
    )
    assert list(chosen.headers) == ["X-Total"]


@pytest.mark.parametrize(
    ("content", "accept", "media_type", "example"),
    [
        ({"*/*": {"example": "hi"}}, None, "text/plain", "hi"),
        ({"*/*": {"example": "hi"}}, "*/*", "text/plain", "hi"),
        ({"text/plain": {"example": "t"}, "application/json": {"example": 1}}, None, "application/json", 1),
        ({"application/json": {"examples": {"ext": {"externalValue": "http://x.test/e"}, "b": {"value": 2}}}}, None, "application/json", NO_EXAMPLE),
        ({"application/json": {"example": 1, "examples": {"b": {"value": 2}}}}, None, "application/json", 1),
    ],
    ids=["any-content-served-as-text", "any-content-for-any-accept", "json-first-without-accept",
         "external-example-is-no-example", "example-keyword-comes-first"],
)  # fmt: skip
def test_negotiation__media_type_and_example(
    content: dict[str, Any], accept: str | None, media_type: str, example: Any
) -> None:
    chosen = for_valid_request(
        {"200": _r("ok", **content)}, "get", code=None, example=None, dynamic=False, accept=accept
    )
    assert (chosen.media_type, chosen.example) == (media_type, example)


def test_negotiation__example_keyword_is_named_default() -> None:
    responses = {"200": _r("ok", **{"application/json": {"example": {"a": 1}}})}
    chosen = for_valid_request(
        responses, "get", code=None, example="default", dynamic=False, accept=None
    )
    assert chosen.example == {"a": 1}


@pytest.mark.parametrize(
    ("operation_id", "method", "code", "example", "accept", "status", "kind", "detail"),
    [
        ("pets.show", "get", None, None, "image/png", 406, "NOT_ACCEPTABLE", "Unable to find content for image/png"),
        ("pets.list", "get", None, None, "application/json;q=0, application/xml;q=0", 406, "NOT_ACCEPTABLE", "Unable to find content"),
        ("pets.list", "get", 400, None, "text/plain", 406, "NOT_ACCEPTABLE", "text/plain"),
        ("pets.create", "post", 404, None, None, 404, "NOT_FOUND", "Requested status code 404 is not defined in the document."),
        ("pets.list", "get", None, "nope", None, 404, "NOT_FOUND", "Response for contentType: application/json and exampleKey: nope does not exist."),
        ("pets.create", "post", 422, "rex", None, 404, "NOT_FOUND", "exampleKey: rex"),
    ],
    ids=["nothing-acceptable", "all-q-zero", "code-with-unacceptable-accept", "undocumented-code",
         "unknown-example", "example-of-another-response"],
)  # fmt: skip
def test_negotiation__valid_request_problems(
    contracts: dict[str, Contract], operation_id: str, method: str, code: int | None,
    example: str | None, accept: str | None, status: int, kind: str, detail: str,
) -> None:  # fmt: skip
    responses = _responses(contracts["petstore-30.yaml"], operation_id)
    with pytest.raises(MockProblem) as caught:
        for_valid_request(
            responses, method, code=code, example=example, dynamic=False, accept=accept
        )
    assert (caught.value.status, caught.value.template.type) == (status, kind)
    assert detail in caught.value.detail


@pytest.mark.parametrize(
    ("responses", "expected", "status", "example"),
    [
        ({"422": _r("u", **{"application/json": {"example": "u"}}), "400": _r("b", **{"application/json": {"example": "b"}})}, [422, 400], 422, "u"),
        ({"400": _r("b", **{"application/json": {"example": "b"}}), "422": _r("u", **{"application/json": {"example": "u"}})}, [422, 400], 422, "u"),
        ({"400": _r("b", **{"application/json": {"example": "b"}}), "default": _r("d", **{"application/json": {"example": "d"}})}, [422, 400], 400, "b"),
        ({"200": _r("ok"), "default": _r("d", **{"application/json": {"example": "d"}})}, [422, 400], 422, "d"),
        ({"415": _r("m", **{"application/json": {"example": "m"}}), "422": _r("u", **{"application/json": {"example": "u"}})}, [415, 422, 400], 415, "m"),
        ({"4XX": _r("r", **{"application/json": {"example": "r"}})}, [422, 400], 422, "r"),
        ({"401": _r("a", **{"application/json": {"example": "a"}}), "default": _r("d")}, [401], 401, "a"),
    ],
    ids=["422-first", "422-whatever-the-order", "400-before-default", "default-as-first-expected",
         "415-for-media-type-problems", "range-counts", "security-401"],
)  # fmt: skip
def test_negotiation__invalid_request_choice(
    responses: dict[str, Any], expected: list[int], status: int, example: str
) -> None:
    chosen = for_invalid_request(responses, expected, example=None)
    assert chosen is not None
    assert (chosen.status, chosen.example) == (status, example)


@pytest.mark.parametrize(
    ("operation_id", "expected", "status"),
    [("pets.list", [422, 400], 400), ("pets.create", [422, 400], 422)],
    ids=["petstore-400", "petstore-422"],
)
def test_negotiation__invalid_request_from_contract(
    contracts: dict[str, Contract], operation_id: str, expected: list[int], status: int
) -> None:
    responses = _responses(contracts["petstore-30.yaml"], operation_id)
    chosen = for_invalid_request(responses, expected, example=None)
    assert chosen is not None
    assert (chosen.status, chosen.media_type, chosen.example["code"]) == (
        status,
        "application/json",
        status,
    )


@pytest.mark.parametrize(
    "operation_id", ["pets.show", "pets.delete"], ids=["only-404-documented", "no-error-responses"]
)
def test_negotiation__invalid_request_invented_when_undocumented(
    contracts: dict[str, Contract], operation_id: str
) -> None:
    responses = _responses(contracts["petstore-30.yaml"], operation_id)
    assert for_invalid_request(responses, [422, 400], example=None) is None


def test_negotiation__invalid_request_named_example(contracts: dict[str, Contract]) -> None:
    responses = _responses(contracts["library-31.yaml"], "books.create")
    chosen = for_invalid_request(responses, [422, 400], example="wrong")
    assert chosen is not None
    assert (chosen.status, chosen.example) == (400, {"reason": "a field has the wrong type"})


def test_negotiation__invalid_request_unknown_example_is_404(
    contracts: dict[str, Contract],
) -> None:
    responses = _responses(contracts["library-31.yaml"], "books.create")
    with pytest.raises(MockProblem) as caught:
        for_invalid_request(responses, [422, 400], example="nope")
    assert (caught.value.status, caught.value.template.type) == (404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("response", "media_type", "has_schema", "example"),
    [
        (_r("d", **{"application/json": {"schema": {"type": "object"}}}), "application/json", True, NO_EXAMPLE),
        (_r("d", **{"text/plain": {"schema": {"type": "string"}}, "application/json": {"example": {"e": 1}}}), "application/json", False, {"e": 1}),
        (_r("d"), None, False, NO_EXAMPLE),
    ],
    ids=["schema-only", "content-with-example-preferred", "no-content"],
)  # fmt: skip
def test_negotiation__invalid_request_body_source(
    response: dict[str, Any], media_type: str | None, has_schema: bool, example: Any
) -> None:
    chosen = for_invalid_request({"default": response}, [422, 400], example=None)
    assert chosen is not None
    assert (chosen.status, chosen.media_type, chosen.schema is not None, chosen.example) == (
        422,
        media_type,
        has_schema,
        example,
    )


@pytest.mark.parametrize(
    ("responses", "code", "expected"),
    [
        ({"404": "exact", "4XX": "range"}, 404, "exact"),
        ({"4XX": "range"}, 404, "range"),
        ({"5XX": "range"}, 404, None),
        ({"default": "d"}, 404, None),
    ],
    ids=["exact-beats-range", "range", "other-range", "default-not-considered"],
)
def test_negotiation__find_response(responses: dict[str, Any], code: int, expected: Any) -> None:
    assert find_response(responses, code) == expected
