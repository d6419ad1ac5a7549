"""The compiled plan of each operation: every validator the service and the mock check it with.

Built once per contract, when first asked for (`Contract.plans`); Connexion's `validator_map`
(authsvc.web.connexion31) and the mock engine both read their validators from here, by operation.
Schemas are compiled with the contract's one registry, so a remaining `$ref` (recursion) is
followed by jsonschema itself. Request bodies are checked without their `readOnly` properties,
responses without their `writeOnly` ones, as OpenAPI asks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jsonschema.protocols import Validator

from authsvc.contract.dialect import first_error, strip_properties, to_json_schema
from authsvc.contract.http import response_key

LOCATIONS = ("header", "query", "path", "cookie")
_MEMO_TYPES = (str, int, float, bool)
_MEMO_MAX_STRING = 256


class _Memo:
    """A bounded, thread-safe map; emptied when full (clients repeat a few values)."""

    def __init__(self, max_entries: int) -> None:
        self._max = max_entries
        self._items: dict[Any, Any] = {}
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        return self._items.get(key)

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            if len(self._items) >= self._max:
                self._items.clear()
            self._items[key] = value


@dataclass(frozen=True)
class Check:
    """One compiled schema: `schema` as plain JSON Schema (3.0 converted) and its validator."""

    schema: Any
    validator: Validator
    _verdicts: _Memo = field(default_factory=lambda: _Memo(4096), repr=False, compare=False)
    _valid_bodies: _Memo = field(default_factory=lambda: _Memo(256), repr=False, compare=False)

    def first_message(self, value: Any) -> str | None:
        """The first violation's message, or None; verdicts on short scalars are remembered.

        Clients send the same ids again and again, and a jsonschema pass (uuid format included)
        costs more than the rest of reading a parameter. The value's type is part of the key
        (1, 1.0 and True are equal in Python, not to a schema).
        """
        memo = type(value) in _MEMO_TYPES and (
            not isinstance(value, str) or len(value) <= _MEMO_MAX_STRING
        )
        # A message quotes the value: 0.0 and -0.0 are equal keys but read differently.
        key = (type(value), repr(value) if isinstance(value, float) else value)
        if memo and (cached := self._verdicts.get(key)) is not None:
            return None if cached is _VALID else str(cached)
        error = first_error(self.validator, value)
        message = None if error is None else error.message
        if memo:
            self._verdicts.put(key, _VALID if message is None else message)
        return message

    def known_valid(self, raw: bytes) -> bool:
        """Whether these exact bytes were already found valid (handlers repeat constant bodies)."""
        return self._valid_bodies.get(raw) is not None

    def remember_valid(self, raw: bytes) -> None:
        if len(raw) <= 1024:
            self._valid_bodies.put(raw, True)


_VALID = object()


@dataclass(frozen=True)
class OperationPlan:
    """The validators of one operation."""

    path: str
    method: str
    operation_id: str | None
    parameters: Mapping[tuple[str, str], Check]  # (in, name) -> the parameter's schema
    locations: Mapping[str, Check]  # in -> all its parameters as one object (lower-cased names)
    bodies: Mapping[str, Check]  # request media type -> body schema (readOnly dropped)
    responses: Mapping[tuple[str, str], Check]  # (responses key, media type) -> writeOnly dropped
    response_headers: Mapping[str, Check]  # responses key -> its headers as one object
    header_values: Mapping[tuple[str, str], Check]  # (responses key, header name) -> its schema

    def parameter(self, location: str, name: str) -> Check | None:
        return self.parameters.get((location, name))

    def body(self, media_type: str) -> Check | None:
        """The request body check for a media type, wildcards in the contract included."""
        return _by_media_type(self.bodies, media_type)

    def response(self, status: int | str, media_type: str) -> Check | None:
        """The response body check for a status (`NXX`/`default` fallback) and media type."""
        key = response_key({k: None for k, _ in self.responses}, status)
        if key is None:
            return None
        return _by_media_type(
            {m: c for (k, m), c in self.responses.items() if k == key}, media_type
        )


def _by_media_type(checks: Mapping[str, Check], media_type: str) -> Check | None:
    wanted = media_type.split(";")[0].strip().lower()
    if wanted in checks:
        return checks[wanted]
    lowered = {m.lower(): c for m, c in checks.items()}
    if wanted in lowered:
        return lowered[wanted]
    major = wanted.split("/")[0]
    return lowered.get(f"{major}/*") or lowered.get("*/*")


def parameter_schema(param: Mapping[str, Any]) -> Any:
    """A parameter's schema: `schema`, or that of its (single) `content` entry (OAS 3.x 4.8.12)."""
    if "schema" in param:
        return param["schema"]
    content: Mapping[str, Any] = param.get("content") or {}
    first: Mapping[str, Any] = next(iter(content.values()), {})
    return first.get("schema", {})


def location_schema(params: Sequence[Mapping[str, Any]], *, is_31: bool) -> dict[str, Any]:
    """Parameters of one location as one object schema, names lower-cased (as Prism checks)."""
    return {
        "type": "object",
        "properties": {
            str(p["name"]).lower(): to_json_schema(parameter_schema(p), is_31=is_31) for p in params
        },
        "required": [str(p["name"]).lower() for p in params if p.get("required")],
    }


def header_parameters(headers: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A response's declared headers (Content-Type aside) as header parameters."""
    return [
        {
            "name": name,
            "in": "header",
            "required": bool(h.get("required")),
            "schema": h.get("schema") or {},
        }
        for name, h in headers.items()
        if isinstance(h, Mapping) and str(name).lower() != "content-type"
    ]


def compile_operation(
    operation: Any,
    *,
    is_31: bool,
    compile_schema: Callable[[Any], Validator],
    view: Callable[[Any], Any] | None = None,
    memo: dict[str, dict[int, Any]] | None = None,
) -> OperationPlan:
    """Every validator of `operation` (a `authsvc.contract.Operation`).

    `view` rewrites each Schema Object before it is compiled (the mock passes Prism's view of a
    schema, `authsvc.mock.engine.prism_schema.prism_view`); None compiles the schemas as written.
    `memo` carries the readOnly/writeOnly stripping of shared schemas from one operation to the
    next; it is keyed by object, so it is used only without a view (a view makes new objects).
    """
    if view is not None:
        memo = None
    memo = {"readOnly": {}, "writeOnly": {}} if memo is None else memo
    seen: Callable[[Any], Any] = view if view is not None else _as_written

    def check(schema: Any) -> Check:
        converted = to_json_schema(schema, is_31=is_31)
        return Check(converted, compile_schema(converted))

    def viewed(params: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        return [{**p, "schema": seen(parameter_schema(p))} for p in params]

    params = [p for p in operation.parameters if isinstance(p, Mapping) and "name" in p]
    by_location: dict[str, list[Mapping[str, Any]]] = {}
    for p in params:
        if p.get("in") in LOCATIONS:
            by_location.setdefault(str(p["in"]), []).append(p)
    bodies: dict[str, Check] = {}
    for media_type, content in (
        (operation.spec.get("requestBody") or {}).get("content") or {}
    ).items():
        if isinstance(content, Mapping) and "schema" in content:
            bodies[str(media_type)] = check(
                strip_properties(seen(content["schema"]), "readOnly", memo["readOnly"])
            )
    responses: dict[tuple[str, str], Check] = {}
    response_headers: dict[str, Check] = {}
    header_values: dict[tuple[str, str], Check] = {}
    for key, response in operation.responses.items():
        if not isinstance(response, Mapping):
            continue
        for media_type, content in (response.get("content") or {}).items():
            if isinstance(content, Mapping) and "schema" in content:
                schema = strip_properties(seen(content["schema"]), "writeOnly", memo["writeOnly"])
                responses[str(key), str(media_type)] = check(schema)
        declared = viewed(header_parameters(response.get("headers") or {}))
        if declared:
            schema = location_schema(declared, is_31=is_31)
            response_headers[str(key)] = Check(schema, compile_schema(schema))
            for header in declared:
                header_values[str(key), header["name"]] = check(header["schema"])
    return OperationPlan(
        path=operation.path,
        method=operation.method,
        operation_id=operation.operation_id,
        parameters={
            (str(p.get("in")), str(p["name"])): check(seen(parameter_schema(p))) for p in params
        },
        locations={
            loc: Check(schema, compile_schema(schema))
            for loc, specs in by_location.items()
            for schema in (location_schema(viewed(specs), is_31=is_31),)
        },
        bodies=bodies,
        responses=responses,
        response_headers=response_headers,
        header_values=header_values,
    )


def _as_written(schema: Any) -> Any:
    return schema
