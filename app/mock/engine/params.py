"""Deserialise path, query, header and cookie parameters by their `style`, then validate them.

As in Prism, each location's parameters are validated together as one object whose property
names are lower-cased, with ajv-style type coercion (`"5"` is the integer 5), so the violations
read `Request query parameter limit must be >= 1`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import unquote

from jsonschema.protocols import Validator

from authsvc.contract import Check
from authsvc.mock.engine.model import MockRequest, Violation
from authsvc.mock.engine.schemas import violations

_LOCATIONS = ("header", "query", "path", "cookie")
_MEMO_MAX_ENTRIES = 1024
_DEFAULT_STYLE = {"query": "form", "cookie": "form", "path": "simple", "header": "simple"}
_INT = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


class _Param:
    """One parameter with everything its deserialisation needs, read once."""

    __slots__ = ("deprecated", "explode", "kind", "name", "prop", "spec", "style")

    def __init__(self, spec: Mapping[str, Any], loc: str, prop: Any) -> None:
        self.spec = spec
        self.name: str = spec["name"].lower()
        self.prop = prop
        self.style: str = spec.get("style") or _DEFAULT_STYLE[loc]
        self.explode: bool = spec.get("explode", self.style == "form")
        self.kind = _schema_type(prop)
        self.deprecated = bool(spec.get("deprecated"))


class ParameterValidator:
    """The parameters of one operation, with each location's check from the contract's plan."""

    def __init__(
        self,
        parameters: Sequence[Mapping[str, Any]],
        locations: Mapping[str, Check],
        *,
        context: str = "Request",
    ) -> None:
        self._context = context
        self._specs: dict[str, list[Mapping[str, Any]]] = {loc: [] for loc in _LOCATIONS}
        for param in parameters:
            if param.get("in") in self._specs:
                self._specs[param["in"]].append(param)
        self._schemas: dict[str, dict[str, Any]] = {}
        self._validators: dict[str, Validator] = {}
        self._params: dict[str, tuple[_Param, ...]] = {}
        self._verdicts: dict[tuple[str, frozenset[tuple[Any, ...]]], tuple[Violation, ...]] = {}
        for loc, specs in self._specs.items():
            if not specs or loc not in locations:
                continue
            self._schemas[loc] = locations[loc].schema
            self._validators[loc] = locations[loc].validator
            props = self._schemas[loc]["properties"]
            self._params[loc] = tuple(_Param(p, loc, props[p["name"].lower()]) for p in specs)

    def validate(self, request: MockRequest, raw_path_params: Mapping[str, str]) -> list[Violation]:
        """Header, query, then path violations (Prism's order), cookies last."""
        sources: dict[str, Mapping[str, list[str]]] = {}
        for loc in self._params:  # only the locations this operation declares are read
            if loc == "header":
                sources[loc] = {k.lower(): [v] for k, v in request.headers.items()}
            elif loc == "query":
                sources[loc] = {k.lower(): v for k, v in request.query_params().items()}
            elif loc == "path":
                sources[loc] = {k.lower(): [unquote(v)] for k, v in raw_path_params.items()}
            else:
                sources[loc] = _cookies(request.headers.get("cookie", ""))
        return self.validate_sources(sources)

    def validate_sources(self, sources: Mapping[str, Mapping[str, list[str]]]) -> list[Violation]:
        """Violations for values already grouped by location and lower-cased name."""
        found: list[Violation] = []
        nothing: Mapping[str, list[str]] = {}
        for loc in _LOCATIONS:
            params = self._params.get(loc)
            if params is None:
                continue
            source = sources.get(loc, nothing)
            values: dict[str, Any] = {}
            deprecated: list[Violation] = []
            for param in params:
                value = _deserialise(param, source)
                if value is not None:
                    values[param.name] = _coerce(value, param.prop, param.kind)
                if param.deprecated and param.name in source:
                    name = param.spec["name"]
                    deprecated.append(
                        Violation(
                            (loc, name),
                            "deprecated",
                            f"{loc.capitalize()} param {name} is deprecated",
                            "Warning",
                        )
                    )
            found += self._violations(loc, values)
            found += deprecated
        return found

    def _violations(self, loc: str, values: dict[str, Any]) -> list[Violation]:
        # Clients repeat the same IDs and filters; the verdict on the same values never changes.
        # The type is part of the key: 1, 1.0 and True are equal in Python, not in JSON Schema.
        try:
            key = (loc, frozenset((k, type(v), v) for k, v in values.items()))
            hash(key)
        except TypeError:  # a list or object value: validate every time
            return violations(self._validators[loc], values, prefix=loc, context=self._context)
        verdict = self._verdicts.get(key)
        if verdict is None:
            if len(self._verdicts) >= _MEMO_MAX_ENTRIES:
                self._verdicts.clear()
            found = violations(self._validators[loc], values, prefix=loc, context=self._context)
            verdict = self._verdicts[key] = tuple(found)
        return list(verdict)


def _cookies(header: str) -> dict[str, list[str]]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except Exception:  # a malformed Cookie header simply carries no cookies
        return {}
    return {name.lower(): [morsel.value] for name, morsel in jar.items()}


def _schema_type(schema: Any) -> str | None:
    if not isinstance(schema, Mapping):
        return None
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind is None and "properties" in schema:
        return "object"
    return kind if isinstance(kind, str) else None


def _deserialise(param: _Param, source: Mapping[str, list[str]]) -> Any:
    name, style, explode, kind = param.name, param.style, param.explode, param.kind
    values = source.get(name)
    if kind == "object" and style == "form" and explode:
        props = param.prop.get("properties") or {}
        picked = {k: v[-1] for k, v in source.items() if k in {p.lower() for p in props}}
        return picked or None
    if kind == "object" and style == "deepObject":
        prefix = f"{name}["
        picked = {k[len(prefix) : -1]: v[-1] for k, v in source.items() if k.startswith(prefix)}
        return picked or None
    if not values:
        return None
    value = values[-1]
    if style == "label" and value.startswith("."):
        value = value[1:]
    elif style == "matrix" and value.startswith(";"):
        value = value[1:].partition("=")[2]
    separator = {"spaceDelimited": " ", "pipeDelimited": "|"}.get(style, ",")
    if kind == "array":
        if style == "form" and explode:
            return list(values)
        # Prism reads an empty delimited array (`?type=`) as no value: a required one is missing.
        return None if value == "" else value.split(separator)
    if kind == "object":
        items = value.split(separator)
        if explode:
            return dict(pair.partition("=")[::2] for pair in items)
        return dict(zip(items[::2], items[1::2], strict=False))
    return value


def coerce(value: Any, schema: Any) -> Any:
    """ajv's `coerceTypes`: strings that spell a number or boolean become one, where allowed."""
    return _coerce(value, schema, _schema_type(schema))


def _coerce(value: Any, schema: Any, kind: str | None) -> Any:
    if isinstance(value, list):
        items = schema.get("items") if isinstance(schema, Mapping) else None
        return [coerce(v, items) for v in value]
    if isinstance(value, dict):
        props = (schema or {}).get("properties") or {}
        return {k: coerce(v, props.get(k)) for k, v in value.items()}
    if not isinstance(value, str):
        return value
    if kind == "integer" and _INT.fullmatch(value):
        return int(value)
    if kind == "number" and _NUMBER.fullmatch(value):
        number = float(value)
        return int(number) if number.is_integer() and "." not in value else number
    if kind == "boolean" and value in ("true", "false"):
        return value == "true"
    if kind == "array":
        items = schema.get("items") if isinstance(schema, Mapping) else None
        return [coerce(value, items)]
    return value
