"""JSON Schema as each OpenAPI version means it, with the formats Prism (ajv-formats) checks.

- 3.1 schemas are JSON Schema 2020-12.
- 3.0 schemas are an extended subset of draft 4: `nullable: true` lets `null` through `type` and
  `enum`, and `exclusiveMinimum`/`exclusiveMaximum` are booleans that modify `minimum`/`maximum`.
  `OAS30Validator` is draft 7 (as Prism validates 3.0) with those two rules, so 3.0 schemas are
  validated as written; a schema already turned into plain JSON Schema (`to_json_schema`) reads
  the same.

Formats: jsonschema's own checkers (uri, uri-reference, uri-template, hostname, date, time, email,
ipv4/6, uuid, regex, json-pointer, with the small packages pyproject lists installed), plus the
ones only ajv-formats knows: OpenAPI's `int32`, `int64`, `byte`, and `url` and `duration` by
ajv's own rules.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft7Validator, Draft202012Validator, FormatChecker, validators
from jsonschema import _keywords as keywords
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator
from referencing import Specification
from referencing.jsonschema import DRAFT7, DRAFT202012

# Draft 2020-12's checkers: the union of every draft's (`FormatChecker()`) keeps draft 3's `time`
# (`%H:%M:%S`, no offset) over RFC 3339's.
FORMATS = FormatChecker(formats=())
FORMATS.checkers = dict(Draft202012Validator.FORMAT_CHECKER.checkers)


def _int32(value: object) -> bool:
    return not isinstance(value, int) or -(2**31) <= value < 2**31


def _int64(value: object) -> bool:
    return not isinstance(value, int) or -(2**63) <= value < 2**63


def _byte(value: object) -> bool:
    return not isinstance(value, str) or bool(base64.b64decode(value, validate=True) or True)


def _url(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme and parts.netloc) and not any(c.isspace() for c in value)


# ajv-formats' own rule, so no ISO 8601 package is needed: P, then dates and/or T and times, or weeks.
_DURATION = re.compile(r"P(?!$)((\d+Y)?(\d+M)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?|(\d+W)?)")


# ajv-formats' `time`: the offset is optional (RFC 3339's full-time requires one).
_TIME = re.compile(r"(\d\d):(\d\d):(\d\d(?:\.\d+)?)(z|[+-]\d\d(?::?\d\d)?)?", re.IGNORECASE)


def _time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    found = _TIME.fullmatch(value)
    if found is None:
        return False
    hour, minute, second = int(found[1]), int(found[2]), float(found[3])
    return hour <= 23 and minute <= 59 and second < 61


def _duration(value: object) -> bool:
    return not isinstance(value, str) or _DURATION.fullmatch(value) is not None


FORMATS.checks("duration")(_duration)
FORMATS.checks("time")(_time)
FORMATS.checks("int32")(_int32)
FORMATS.checks("int64")(_int64)
FORMATS.checks("byte", raises=(binascii.Error, ValueError))(_byte)
FORMATS.checks("url", raises=ValueError)(_url)


def _nullable(schema: Mapping[str, Any], instance: Any) -> bool:
    return instance is None and schema.get("nullable") is True


def _type_30(validator: Any, types: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
    if not _nullable(schema, instance):
        yield from keywords.type(validator, types, instance, schema)


def _enum_30(validator: Any, enums: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
    if not _nullable(schema, instance):
        yield from keywords.enum(validator, enums, instance, schema)


def _bound(name: str) -> Any:
    exclusive = f"exclusive{name.capitalize()}"
    plain = getattr(keywords, name)

    def check(validator: Any, bound: Any, instance: Any, schema: Mapping[str, Any]) -> Any:
        if schema.get(exclusive) is True:  # 3.0: the boolean turns the bound exclusive
            yield from getattr(keywords, exclusive)(validator, bound, instance, schema)
        else:
            yield from plain(validator, bound, instance, schema)

    return check


def _exclusive(name: str) -> Any:
    plain = getattr(keywords, name)

    def check(validator: Any, bound: Any, instance: Any, schema: Mapping[str, Any]) -> Any:
        if not isinstance(bound, bool):  # a number: JSON Schema's own meaning
            yield from plain(validator, bound, instance, schema)

    return check


OAS30Validator: Any = validators.extend(
    Draft7Validator,
    {
        "type": _type_30,
        "enum": _enum_30,
        "minimum": _bound("minimum"),
        "maximum": _bound("maximum"),
        "exclusiveMinimum": _exclusive("exclusiveMinimum"),
        "exclusiveMaximum": _exclusive("exclusiveMaximum"),
    },
)


def validator_class(*, is_31: bool) -> Any:
    """The validator class for the contract's dialect."""
    return Draft202012Validator if is_31 else OAS30Validator


def specification(*, is_31: bool) -> Specification[Any]:
    """The `referencing` specification the contract's documents are registered under."""
    return DRAFT202012 if is_31 else DRAFT7


def to_json_schema(schema: Any, *, is_31: bool) -> Any:
    """An OpenAPI Schema Object as plain JSON Schema (for generators that read type arrays)."""
    if is_31 or not isinstance(schema, (dict, list)):
        return schema
    return _from_30(schema, {})


# The resolved view shares one object per inlined reference; both conversions below keep that
# sharing (memo by object, for one call), so their cost is linear in the document as written.


def _from_30(node: Any, memo: dict[int, Any]) -> Any:
    if not isinstance(node, (dict, list)):
        return node
    if id(node) in memo:
        return memo[id(node)]
    if isinstance(node, list):
        converted: Any = [_from_30(item, memo) for item in node]
        memo[id(node)] = converted
        return converted
    out = {key: _from_30(value, memo) for key, value in node.items()}
    if out.pop("nullable", False) is True:
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    for bound in ("Minimum", "Maximum"):
        flag = out.get(f"exclusive{bound}")
        if isinstance(flag, bool):
            if flag and bound.lower() in out:
                out[f"exclusive{bound}"] = out.pop(bound.lower())
            else:
                out.pop(f"exclusive{bound}")
    memo[id(node)] = out
    return out


def strip_properties(schema: Any, flag: str, _memo: dict[int, Any] | None = None) -> Any:
    """Drop `readOnly` (requests) or `writeOnly` (responses) properties, as the spec asks.

    A schema with nothing to drop is returned as it is (not copied); `_memo` (by object) may be
    shared between calls with the same `flag` on one document.
    """
    if not isinstance(schema, dict):
        return schema
    memo = {} if _memo is None else _memo
    if id(schema) in memo:
        return memo[id(schema)]
    memo[id(schema)] = schema  # a cycle through itself: nothing more to drop on the way round
    changed: dict[str, Any] = {}
    props = schema.get("properties")
    if isinstance(props, dict):
        dropped = {k for k, v in props.items() if isinstance(v, dict) and v.get(flag) is True}
        kept = {k: strip_properties(v, flag, memo) for k, v in props.items() if k not in dropped}
        if dropped or any(kept[k] is not props[k] for k in kept):
            changed["properties"] = kept
        if dropped and isinstance(schema.get("required"), list):
            changed["required"] = [
                r for r in schema["required"] if not (isinstance(r, str) and r in dropped)
            ]
    if isinstance(schema.get("items"), dict):
        items = strip_properties(schema["items"], flag, memo)
        if items is not schema["items"]:
            changed["items"] = items
    for key in ("allOf", "anyOf", "oneOf"):
        if isinstance(schema.get(key), list):
            subs = [strip_properties(sub, flag, memo) for sub in schema[key]]
            if any(new is not old for new, old in zip(subs, schema[key], strict=True)):
                changed[key] = subs
    out = {**schema, **changed} if changed else schema
    memo[id(schema)] = out
    return out


def first_error(validator: Validator, instance: Any) -> ValidationError | None:
    """The first violation, or None (cheaper than collecting them all)."""
    return next(iter(validator.iter_errors(instance)), None)
