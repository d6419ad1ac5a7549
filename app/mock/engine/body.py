"""Check a request body: presence, media type (415), then its schema, in Prism's order."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from jsonschema.protocols import Validator

from authsvc.contract import OperationPlan
from authsvc.mock.engine.media import essence, is_json, wildcard_match
from authsvc.mock.engine.model import MockRequest, Violation
from authsvc.mock.engine.params import coerce
from authsvc.mock.engine.schemas import violations

_FORM = "application/x-www-form-urlencoded"
# Deeper JSON is refused (a `json` violation): validating it would recurse past Python's stack
# limit, and no real document nests this far (docs/mock.md, "Untrusted contracts").
MAX_JSON_DEPTH = 256


class BodyValidator:
    """The request body of one operation (or its absence), checked as the plan compiled it."""

    def __init__(self, request_body: Mapping[str, Any] | None, plan: OperationPlan) -> None:
        self._spec = request_body
        self._contents: dict[str, Any] = dict((request_body or {}).get("content") or {})
        self._schemas: dict[str, Any] = {}
        self._validators: dict[str, Validator] = {}
        for media_type in self._contents:
            check = plan.bodies.get(media_type)
            if check is not None:
                self._schemas[media_type] = check.schema
                self._validators[media_type] = check.validator

    def validate(self, request: MockRequest) -> list[Violation]:
        if not request.body:
            if self._spec is not None and self._spec.get("required"):
                return [Violation((), "required", "Body parameter is required")]
            return []
        content_type = request.headers.get("content-type")
        if self._spec is None or not self._contents:
            return [
                Violation(
                    (), 415, "No supported content types, but request included a non-empty body"
                )
            ]
        media_type = next(
            (m for m in self._contents if content_type and wildcard_match(m, content_type)), None
        )
        if content_type and media_type is None:
            supported = ",".join(self._contents)
            return [Violation((), 415, f"Supported content types: {supported}")]
        media_type = media_type or next(iter(self._contents))
        validator = self._validators.get(media_type)
        if validator is None:
            return []
        instance, problem = _decode(request.body, content_type, self._schemas[media_type])
        if problem is not None:
            return [problem]
        try:
            return violations(validator, instance, prefix="body")
        except RecursionError:  # a recursive schema walked as deep as the body goes
            return [_too_deep()]


def _decode(body: bytes, content_type: str | None, schema: Any) -> tuple[Any, Violation | None]:
    try:
        text = body.decode()
    except UnicodeDecodeError:
        return None, Violation(("body",), "encoding", "Request body is not valid UTF-8")
    if is_json(content_type):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            # Prism never answers a malformed JSON body; we report it as a body violation.
            return None, Violation(("body",), "json", f"Request body is not valid JSON: {exc}")
        except RecursionError:
            return None, _too_deep()
        # Only a body with that many brackets can be that deep: most bodies skip the walk.
        if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH and _depth(value) > MAX_JSON_DEPTH:
            return None, _too_deep()
        return value, None
    if content_type and essence(content_type) == _FORM:
        return coerce(dict(parse_qsl(text, keep_blank_values=True)), schema), None
    return text, None


def _too_deep() -> Violation:
    return Violation(
        ("body",), "json", f"Request body is nested deeper than {MAX_JSON_DEPTH} levels"
    )


def _depth(value: Any) -> int:
    """How deeply arrays and objects nest in a decoded JSON value (iteratively: no recursion)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_JSON_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest
