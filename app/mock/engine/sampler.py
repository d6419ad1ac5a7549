"""Static bodies: a port of the json-schema-sampler that Prism uses when there is no example.

The rules are Prism's, so static answers match it byte for byte. The schema is first rewritten
as http-spec rewrites it for Prism (`prism_schema`: `example` becomes `examples`, number formats
become bounds); then: `allOf`, `oneOf`/`anyOf`, `default`, `const`, the first `enum`, the first of
`examples`, else a value built by type (`"string"`, the lower bound or 0, true, one array item,
every object property, `property1/2` for maps).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from authsvc.contract import ContractRefs
from authsvc.mock.engine.prism_schema import prism_view

_MAX_DEPTH = 15
_KEYWORD_TYPES = (
    ("multipleOf", "number"), ("maximum", "number"), ("exclusiveMaximum", "number"),
    ("minimum", "number"), ("exclusiveMinimum", "number"), ("maxLength", "string"),
    ("minLength", "string"), ("pattern", "string"), ("items", "array"), ("maxItems", "array"),
    ("minItems", "array"), ("uniqueItems", "array"), ("additionalItems", "array"),
    ("maxProperties", "object"), ("minProperties", "object"), ("required", "object"),
    ("additionalProperties", "object"), ("properties", "object"),
    ("patternProperties", "object"), ("dependencies", "object"),
)  # fmt: skip
_FORMATS = {
    "email": "user@example.com",
    "idn-email": "\u043f\u043e\u043b\u044c\u0437\u043e\u0432\u0430\u0442\u0435\u043b\u044c"
    "@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0443",
    "date-time": "2019-08-24T14:15:22Z",
    "date": "2019-08-24",
    "time": "14:15:22Z",
    "ipv4": "192.168.0.1",
    "ipv6": "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
    "hostname": "example.com",
    "idn-hostname": "\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0443",
    "iri": "http://\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0443",
    "iri-reference": "../\u0441\u043b\u043e\u0432\u0430\u0440\u044c",
    "uri": "http://example.com",
    "uri-reference": "../dictionary",
    "uri-template": "http://example.com/{endpoint}",
    "json-pointer": "/json/pointer",
    "relative-json-pointer": "1/relative/json/pointer",
    "regex": "/regex/",
}


def infer_type(schema: Mapping[str, Any]) -> str | None:
    kind = schema.get("type")
    if kind is not None:
        return (kind[0] if kind else None) if isinstance(kind, list) else str(kind)
    return next((t for key, t in _KEYWORD_TYPES if key in schema), None)


def sample(
    schema: Any, root: Mapping[str, Any] | ContractRefs | None = None, *, rewrite: bool = True
) -> Any:
    """The static value Prism would serve for this schema (`$ref`s looked up in `root`).

    `rewrite=False` for a document with its own `jsonSchemaDialect`, which http-spec leaves as is.
    """
    sampler = _Sampler(ContractRefs.of(root), rewrite)
    return sampler.traverse(sampler.view(schema), 1, None)[0]


class _Sampler:
    def __init__(self, refs: ContractRefs, rewrite: bool = True) -> None:
        self._refs = refs
        self._rewrite = rewrite
        self._seen: list[int] = []
        # Each schema is rewritten once (keyed by the original, which is kept alive), so that
        # the cycle check, which compares identities, sees a referenced schema come back.
        self._views: dict[int, tuple[Any, Any]] = {}

    def view(self, schema: Any) -> Any:
        if not self._rewrite:
            return schema
        found = self._views.get(id(schema))
        if found is None:
            found = self._views[id(schema)] = (schema, prism_view(schema))
        return found[1]

    def _resolve(self, ref: str) -> Any:
        return self.view(self._refs.resolve(ref))

    def traverse(self, schema: Any, depth: int, prop: str | None) -> tuple[Any, str | None]:
        if not isinstance(schema, Mapping):
            return None, None
        if id(schema) in self._seen or depth > _MAX_DEPTH:
            return _circular(infer_type(schema)), None
        if "$ref" in schema:
            return self.traverse(self._resolve(str(schema["$ref"])), depth, prop)
        self._seen.append(id(schema))
        try:
            return self._traverse(schema, depth, prop)
        finally:
            self._seen.pop()

    def _traverse(
        self, schema: Mapping[str, Any], depth: int, prop: str | None
    ) -> tuple[Any, str | None]:
        if "example" in schema:
            return schema["example"], _first_type(schema)
        if "allOf" in schema:
            return self._all_of(schema, depth, prop)
        for key in ("oneOf", "anyOf"):
            if schema.get(key):
                return self.traverse(schema[key][0], depth, prop)
        if isinstance(schema.get("if"), Mapping) and isinstance(schema.get("then"), Mapping):
            return self.traverse(_merge(dict(schema["if"]), schema["then"]), depth, prop)
        for key in ("default", "const"):
            if key in schema:
                return schema[key], None
        for key in ("enum", "examples"):
            if isinstance(schema.get(key), list) and schema[key]:
                return schema[key][0], None
        kind = infer_type(schema)
        if kind == "object":
            return self._object(schema, depth), kind
        if kind == "array":
            return self._array(schema, depth), kind
        if kind == "string":
            return _string(schema, prop), kind
        if kind in ("integer", "number"):
            return _number(schema), kind
        if kind == "boolean":
            return True, kind
        return None, kind

    def _all_of(
        self, schema: Mapping[str, Any], depth: int, prop: str | None
    ) -> tuple[Any, str | None]:
        base = {k: v for k, v in schema.items() if k != "allOf"}
        value, kind = self.traverse(base, depth, prop)
        parts = []
        for sub in schema["allOf"]:
            sub = (
                self._resolve(str(sub["$ref"]))
                if isinstance(sub, Mapping) and "$ref" in sub
                else sub
            )
            part, part_kind = self.traverse({"type": kind, **sub} if kind else sub, depth, prop)
            kind = kind or part_kind
            if part is not None:
                parts.append(part)
        if kind == "object":
            merged = value if isinstance(value, dict) else {}
            for part in parts:
                if isinstance(part, dict):
                    merged = _merge(merged, part)
            return merged, kind
        return (parts[-1] if parts else value), kind

    def _object(self, schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for name, sub in (schema.get("properties") or {}).items():
            result[name] = self.traverse(sub, depth + 1, name)[0]
        extra = schema.get("additionalProperties")
        if isinstance(extra, Mapping):
            result["property1"] = self.traverse(extra, depth + 1, None)[0]
            result["property2"] = self.traverse(extra, depth + 1, None)[0]
        return result

    def _array(self, schema: Mapping[str, Any], depth: int) -> list[Any]:
        items = schema.get("items", schema.get("contains"))
        prefix = schema.get("prefixItems")
        tuple_items = (
            prefix if isinstance(prefix, list) else items if isinstance(items, list) else None
        )
        length = min(schema.get("maxItems", float("inf")), schema.get("minItems") or 1)
        if tuple_items is not None:
            length = max(length, len(tuple_items))
        elif not isinstance(items, Mapping):
            return []
        result = []
        for i in range(int(length)):
            if tuple_items is not None:
                sub = (
                    tuple_items[i]
                    if i < len(tuple_items)
                    else items
                    if isinstance(items, Mapping)
                    else {}
                )
            else:
                sub = items
            result.append(self.traverse(sub, depth + 1, None)[0])
        return result


def _first_type(schema: Mapping[str, Any]) -> str | None:
    kind = schema.get("type")
    return (kind[0] if kind else None) if isinstance(kind, list) else kind


def _circular(kind: str | None) -> Any:
    return {} if kind == "object" else [] if kind == "array" else None


def _merge(into: dict[str, Any], other: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(into)
    for key, value in other.items():
        if isinstance(out.get(key), dict) and isinstance(value, Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _number(schema: Mapping[str, Any]) -> int | float:
    if "minimum" in schema:
        return schema["minimum"]  # type: ignore[no-any-return]
    low, high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if isinstance(low, (int, float)) and not isinstance(low, bool):
        value = low + 1
        return (value + high - 1) / 2 if value == high else value
    if isinstance(high, (int, float)) and not isinstance(high, bool):
        return high - 1
    return schema.get("maximum", 0)  # type: ignore[no-any-return]


def _string(schema: Mapping[str, Any], prop: str | None) -> str:
    fmt = schema.get("format") or "default"
    min_length = int(schema.get("minLength") or 0)
    if fmt == "uuid":
        return deterministic_uuid(prop or "id")
    if fmt == "password":
        value = "pa$$word"
        if min_length > len(value):
            value += "_" + _repeat("qwerty!@#$%^123456", min_length - len(value) - 1)
        return value
    if fmt in _FORMATS:
        return _FORMATS[fmt]
    value = _repeat("string", min_length) if min_length > 6 else "string"
    max_length = schema.get("maxLength")
    return value[:max_length] if isinstance(max_length, int) and max_length else value


def _repeat(text: str, length: int) -> str:
    return (text * (length // len(text) + 1))[:length]


def deterministic_uuid(name: str) -> str:
    """json-schema-sampler's UUID seeded by the property name (a jsf32 PRNG over a JS hash)."""
    seed = 0
    for char in name:
        seed = _i32((seed << 5) - seed + ord(char))
    a = b = c = d = seed
    out = []
    for char in "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx":
        if char not in "xy":
            out.append(char)
            continue
        t = _i32(a - _i32((b << 27) | ((b & 0xFFFFFFFF) >> 5)))
        a = b ^ _i32((c << 17) | ((c & 0xFFFFFFFF) >> 15))
        b = _i32(c + d)
        c = _i32(d + t)
        d = _i32(a + t)
        r = int(((d & 0xFFFFFFFF) / 4294967296) * 16) % 16
        out.append(format(r if char == "x" else (r & 0x3) | 0x8, "x"))
    return "".join(out)


def _i32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - 0x100000000 if value & 0x80000000 else value
