"""Choose the response: which status, which media type, which example (Prism's negotiator).

A valid request gets the preferred code, else the lowest 2xx, else `default`, else the first
response; an invalid one gets 401 (security), 415/422/400 (in that order) or `default`. Then the
media type is negotiated against `Accept`, and the example picked by name or taken first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from authsvc.contract import response_key
from authsvc.mock.engine.media import best_match
from authsvc.mock.engine.problems import NO_RESPONSE_DEFINED, NOT_ACCEPTABLE, NOT_FOUND, MockProblem

NO_EXAMPLE = object()


@dataclass(frozen=True)
class Negotiated:
    """The chosen response: `example` is NO_EXAMPLE when the body must come from `schema`."""

    status: int
    response: Mapping[str, Any]
    media_type: str | None = None
    schema: Any = None
    example: Any = NO_EXAMPLE
    headers: Mapping[str, Any] = field(default_factory=dict)


def find_response(responses: Mapping[str, Any], code: int) -> Mapping[str, Any] | None:
    """The response documented for `code`, or for its `NXX` range."""
    key = response_key(responses, code, default=False)
    return next((r for k, r in responses.items() if str(k) == key), None)


def for_valid_request(
    responses: Mapping[str, Any],
    method: str,
    *,
    code: int | None,
    example: str | None,
    dynamic: bool,
    accept: str | None,
) -> Negotiated:
    """The response for a request that passed validation."""
    if code is not None:
        response = find_response(responses, code) or responses.get("default")
        if response is None:
            raise MockProblem(
                NOT_FOUND, f"Requested status code {code} is not defined in the document."
            )
        status = code
    else:
        status, response = _unspecified(responses)
    if method == "head":
        return Negotiated(status, response, headers=response.get("headers") or {})
    contents: Mapping[str, Any] = response.get("content") or {}
    headers = response.get("headers") or {}
    if accept is None:
        media_type = next((m for m in contents if m == "*/*"), None) or best_match(
            list(contents), "application/json,*/*"
        )
    else:
        media_type = best_match(list(contents), accept)
        if media_type is None:
            if contents and status != 204 and "*/*" not in accept:
                raise MockProblem(NOT_ACCEPTABLE, f"Unable to find content for {accept}")
            return Negotiated(status, response, headers=headers)
    if media_type is None:
        return Negotiated(status, response, headers=headers)
    content = contents[media_type] or {}
    shown = "text/plain" if media_type == "*/*" else media_type
    schema = content.get("schema")
    if example is not None:
        value = _example_by_key(content, example)
        if value is NO_EXAMPLE:
            raise MockProblem(
                NOT_FOUND,
                f"Response for contentType: {media_type} and exampleKey: {example} does not exist.",
            )
        return Negotiated(status, response, shown, schema, value, headers)
    if dynamic and schema is not None:
        return Negotiated(status, response, shown, schema, NO_EXAMPLE, headers)
    # Dynamic mode without a schema serves the example (Prism answers 500 "schema is not
    # defined"; docs/mock.md, deliberate differences).
    return Negotiated(status, response, shown, schema, _first_example(content), headers)


def for_invalid_request(
    responses: Mapping[str, Any], expected: Sequence[int], *, example: str | None
) -> Negotiated | None:
    """The contract's answer to an invalid request, or None when the mock must invent one."""
    found = next(((c, r) for c in expected if (r := find_response(responses, c)) is not None), None)
    if found is None and "default" in responses:
        found = (expected[0], responses["default"])
    if found is None:
        return None
    status, response = found
    headers = response.get("headers") or {}
    contents: Mapping[str, Any] = response.get("content") or {}
    with_examples = next(
        ((m, c) for m, c in contents.items() if _first_example(c or {}) is not NO_EXAMPLE), None
    )
    if with_examples is not None:
        media_type, content = with_examples
        value = _first_example(content) if example is None else _example_by_key(content, example)
        if value is NO_EXAMPLE:
            raise MockProblem(
                NOT_FOUND,
                f"Response for contentType: {media_type} and exampleKey: {example} does not exist.",
            )
        return Negotiated(status, response, media_type, content.get("schema"), value, headers)
    with_schema = next(((m, c) for m, c in contents.items() if (c or {}).get("schema")), None)
    if with_schema is not None:
        return Negotiated(
            status, response, with_schema[0], with_schema[1]["schema"], NO_EXAMPLE, headers
        )
    return Negotiated(status, response, headers=headers)


def _unspecified(responses: Mapping[str, Any]) -> tuple[int, Mapping[str, Any]]:
    success = sorted(k for k in map(str, responses) if re.fullmatch(r"2(\d\d|XX)", k))
    if success:
        key = success[0]
        return int(key.replace("XX", "00")), responses[key]
    if "default" in responses:
        return 200, responses["default"]
    if not responses:
        raise MockProblem(NO_RESPONSE_DEFINED, "")
    key = str(next(iter(responses)))
    return int(key.replace("XX", "00").replace("xx", "00")), responses[key]


def _examples(content: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The media type's examples as http-spec lists them for Prism: `default` first.

    `default` is the media type's `example`, else the first example of its schema (a schema's
    `example`, which http-spec turns into `examples[0]`, or its own `examples[0]`): so a
    schema-level example is served before the named `examples`, as Prism serves it.
    """
    found: list[tuple[str, Any]] = []
    schema = content.get("schema")
    if "example" in content:
        found.append(("default", content["example"]))
    elif isinstance(schema, Mapping) and "example" in schema:
        found.append(("default", schema["example"]))
    elif (
        isinstance(schema, Mapping)
        and isinstance(schema.get("examples"), list)
        and (schema["examples"])
    ):
        found.append(("default", schema["examples"][0]))
    for name, item in (content.get("examples") or {}).items():
        # An externalValue example has no inline value: the body then comes from the schema.
        found.append(
            (name, item["value"] if isinstance(item, Mapping) and "value" in item else NO_EXAMPLE)
        )
    return found


def _first_example(content: Mapping[str, Any]) -> Any:
    examples = _examples(content)
    return examples[0][1] if examples else NO_EXAMPLE


def _example_by_key(content: Mapping[str, Any], key: str) -> Any:
    return next((value for name, value in _examples(content) if name == key), NO_EXAMPLE)
