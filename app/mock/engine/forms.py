"""Form request bodies (`application/x-www-form-urlencoded`, `multipart/form-data`), read as Prism
reads them before it validates them against the body's schema.

1. Split into fields: `a=1&b=2` (the last of a repeated name wins), or the parts of a multipart
   body, each by its `name` (its content as text); a multipart request without a `boundary`
   is a 415.
2. A field that has an `encoding` with a style, and does not `allowReserved`, may not contain a
   reserved character as sent (`,` in `tags=a,b` included): each such field is a violation, and
   nothing else is checked.
3. Percent-decoded (`+` is a space in urlencoded bodies); a malformed escape stays as sent.
4. Only the schema's properties are kept; a field with an encoding is read by its style (`form`
   explodes by default, `commaDelimited`/`spaceDelimited`/`pipeDelimited` split, `deepObject`).
5. Strings are coerced as ajv's `coerceTypes` does (`"5"` is 5 for an integer) and the result is
   validated like any body, unless its schema is recursive: Prism validates form bodies without
   the references it kept for cycles, so ajv cannot compile such a schema and nothing is checked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import unquote_to_bytes

from authsvc.mock.engine.media import essence
from authsvc.mock.engine.model import Violation

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_RESERVED = re.compile(r"[/?#\[\]@!$&'()*+,;=]")
_ESCAPE = re.compile(r"%(?![0-9a-fA-F]{2})")
_STYLES = ("form", "spaceDelimited", "pipeDelimited", "deepObject", "commaDelimited")
_SEPARATORS = {"spaceDelimited": "%20", "pipeDelimited": "|", "commaDelimited": ","}
_NO_BOUNDARY = (
    "Boundary parameter for multipart/form-data is not defined or generated in the request "
    "header. Try removing manually defined content-type from your request header if it exists."
)


# `read_form`'s value when the body is not to be checked (a recursive schema, as for Prism).
UNCHECKED: Any = object()
_RECURSIVE: dict[int, tuple[Any, bool]] = {}


def is_form(media_type: str | None) -> bool:
    return essence(media_type or "") in FORM_TYPES


def _recursive(schema: Any) -> bool:
    """Whether the schema still holds a `$ref` (the loader keeps them only for cycles)."""
    found = _RECURSIVE.get(id(schema))
    if found is not None and found[0] is schema:
        return found[1]
    seen: set[int] = set()
    stack = [schema]
    result = False
    while stack and not result:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, Mapping):
            result = isinstance(node.get("$ref"), str)
            stack.extend(v for k, v in node.items() if k not in ("example", "examples", "enum"))
        elif isinstance(node, list):
            stack.extend(node)
    if len(_RECURSIVE) > 256:
        _RECURSIVE.clear()
    _RECURSIVE[id(schema)] = (schema, result)
    return result


def read_form(
    body: bytes,
    content_type: str | None,
    declared: str,
    schema: Any,
    encoding: Mapping[str, Any],
) -> tuple[Any, list[Violation]]:
    """(the value to validate, violations found while reading it: 415 or reserved characters).

    `declared` is the contract's media type the request matched, `encoding` its Encoding Object.
    """
    if essence(declared) == "multipart/form-data":
        boundary = _boundary(content_type or "")
        if not boundary:
            return None, [Violation((), 415, _NO_BOUNDARY)]
        fields = _multipart(body, content_type or "")
    else:
        fields = _urlencoded(body.decode("utf-8", "replace"))
    styled = {
        name: spec
        for name, spec in encoding.items()
        if isinstance(spec, Mapping) and spec.get("style") in _STYLES
    }
    reserved = [
        Violation(("body", name), None, "Reserved characters used in request body")
        for name, spec in styled.items()
        if spec.get("allowReserved") is not True and _RESERVED.search(fields.get(name) or "")
    ]
    if reserved:
        return None, reserved
    if _recursive(schema):
        return UNCHECKED, []
    plus_is_space = essence(declared) == FORM_TYPES[0]
    decoded = {_decode(k, plus_is_space): _decode(v, plus_is_space) for k, v in fields.items()}
    properties = schema.get("properties") if isinstance(schema, Mapping) else None
    if not isinstance(properties, Mapping):
        return decoded, []
    value: dict[str, Any] = {}
    for name, prop in properties.items():
        spec = styled.get(name)
        found = _styled(name, decoded, prop, spec) if spec else decoded.get(name)
        if found is not None:
            value[name] = coerce(found, prop)
    return value, []


def _boundary(content_type: str) -> str:
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "boundary":
            return value.strip().strip('"')
    return ""


def _urlencoded(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for pair in text.split("&"):
        key, _, value = pair.partition("=")
        fields[key] = value
    return fields


def _multipart(body: bytes, content_type: str) -> dict[str, str]:
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1", "replace")
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    fields: dict[str, str] = {}
    if not message.is_multipart():
        return fields
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            fields[name] = data.decode("utf-8", "replace")
    return fields


def _decode(text: str, plus_is_space: bool) -> str:
    """JavaScript's `decodeURIComponent`, which leaves the text alone when it is malformed."""
    if plus_is_space:
        text = text.replace("+", "%20")
    if "%" not in text:
        return text
    if _ESCAPE.search(text):
        return text
    try:
        return unquote_to_bytes(text).decode("utf-8")
    except UnicodeDecodeError:
        return text


def _styled(name: str, fields: Mapping[str, str], schema: Any, spec: Mapping[str, Any]) -> Any:
    style = spec["style"]
    kind = schema.get("type") if isinstance(schema, Mapping) else None
    value = fields.get(name)
    if style == "deepObject":
        props = schema.get("properties") if isinstance(schema, Mapping) else None
        if kind != "object" or not isinstance(props, Mapping):
            return fields.get(name)
        picked = {p: fields[f"{name}[{p}]"] for p in props if f"{name}[{p}]" in fields}
        return picked
    if style == "form":
        explode = spec.get("explode") is not False  # form explodes unless told otherwise
        if value is None or value == "":
            return None
        if kind == "array":
            return [value] if explode else value.split(",")
        if kind == "object" and not explode:
            items = value.split(",")
            return dict(zip(items[::2], items[1::2], strict=False))
        return value
    if kind != "array":
        return value  # Prism fails on this combination; the value is checked as it is
    if spec.get("explode") is True:
        return None if value is None else [value]
    return value.split(_SEPARATORS[style]) if value else ""


_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_RADIX = re.compile(r"0([xX][0-9a-fA-F]+|[oO][0-7]+|[bB][01]+)")


def js_number(text: str) -> float | None:
    """JavaScript's `Number(text)` (None for NaN): trimmed, `0x`/`0o`/`0b`, `Infinity`."""
    trimmed = text.strip()
    if not trimmed:
        return 0.0
    if _DECIMAL.fullmatch(trimmed):
        return float(trimmed)
    if _RADIX.fullmatch(trimmed):
        return float(int(trimmed, 0))
    if trimmed.lstrip("+-") == "Infinity":
        return float("-inf") if trimmed.startswith("-") else float("inf")
    return None


def coerce(value: Any, schema: Any) -> Any:
    """ajv's `coerceTypes: true` for a form value: strings to the scalar type the schema wants
    (never a scalar into an array: that is ajv's `"array"` mode, which Prism does not use)."""
    if not isinstance(schema, Mapping):
        return value
    if isinstance(value, list):
        return [coerce(item, schema.get("items")) for item in value]
    if isinstance(value, dict):
        props = schema.get("properties")
        props = props if isinstance(props, Mapping) else {}
        return {k: coerce(v, props.get(k)) for k, v in value.items()}
    if not isinstance(value, str):
        return value
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if "string" in kinds:
        return value
    for wanted in kinds:
        if wanted in ("integer", "number") and value:
            number = js_number(value)
            if number is None or (wanted == "integer" and not number.is_integer()):
                continue
            return int(number) if number.is_integer() else number
        if wanted == "boolean" and value in ("true", "false"):
            return value == "true"
        if wanted == "null" and value == "":
            return None
    return value
