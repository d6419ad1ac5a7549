"""JSON Schema for the mock: the right dialect per contract, and Prism-worded violations.

3.1 contracts are validated as full JSON Schema 2020-12 (Prism falls back to draft-07 and so
ignores `prefixItems`, `unevaluatedProperties`, ...). 3.0 schemas are first turned into plain
JSON Schema (`nullable`, boolean `exclusiveMinimum`) and validated as draft-07, as Prism does.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft7Validator, Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator

from authsvc.mock.model import Violation

_FORMATS = FormatChecker()


def _int32(value: object) -> bool:
    return not isinstance(value, int) or -(2**31) <= value < 2**31


def _int64(value: object) -> bool:
    return not isinstance(value, int) or -(2**63) <= value < 2**63


def _byte(value: object) -> bool:
    return not isinstance(value, str) or bool(base64.b64decode(value, validate=True) or True)


# ajv-formats knows these OpenAPI formats; jsonschema does not, so Prism-valid data would fail.
_FORMATS.checks("int32")(_int32)
_FORMATS.checks("int64")(_int64)
_FORMATS.checks("byte", raises=(binascii.Error, ValueError))(_byte)


def to_json_schema(schema: Any, *, is_31: bool) -> Any:
    """An OpenAPI Schema Object as plain JSON Schema for the contract's dialect."""
    if is_31 or not isinstance(schema, (dict, list)):
        return schema
    return _from_30(schema)


def _from_30(node: Any) -> Any:
    if isinstance(node, list):
        return [_from_30(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _from_30(value) for key, value in node.items()}
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
    return out


def strip_properties(schema: Any, flag: str) -> Any:
    """Drop `readOnly` (requests) or `writeOnly` (responses) properties, as the spec asks."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    props = out.get("properties")
    if isinstance(props, dict):
        dropped = {k for k, v in props.items() if isinstance(v, dict) and v.get(flag) is True}
        out["properties"] = {
            k: strip_properties(v, flag) for k, v in props.items() if k not in dropped
        }
        if isinstance(out.get("required"), list):
            out["required"] = [r for r in out["required"] if r not in dropped]
    if isinstance(out.get("items"), dict):
        out["items"] = strip_properties(out["items"], flag)
    for key in ("allOf", "anyOf", "oneOf"):
        if isinstance(out.get(key), list):
            out[key] = [strip_properties(s, flag) for s in out[key]]
    return out


def make_validator(schema: Any, *, is_31: bool, root: Mapping[str, Any] | None = None) -> Validator:
    """A format-checking validator for an already converted schema.

    A recursive schema keeps a `$ref` into the contract (the loader cannot inline a cycle), so
    the contract's top-level members are laid beside the schema: `#/components/...` then resolves
    inside the compiled document. They are not JSON Schema keywords, so nothing else changes.
    """
    if root is not None and isinstance(schema, Mapping) and _has_ref(schema):
        schema = {**{k: v for k, v in root.items() if k not in schema}, **schema}
    cls: Any = Draft202012Validator if is_31 else Draft7Validator
    return cls(schema, format_checker=_FORMATS)  # type: ignore[no-any-return]


def _has_ref(node: Any) -> bool:
    if isinstance(node, Mapping):
        return "$ref" in node or any(_has_ref(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_ref(v) for v in node)
    return False


def violations(
    validator: Validator,
    instance: Any,
    *,
    prefix: str,
    context: str = "Request",
    location_root: tuple[str, ...] = (),
) -> list[Violation]:
    """Every schema violation, worded like Prism's (ajv) messages."""
    found: list[Violation] = []
    for error in validator.iter_errors(instance):
        for path, code, message in _ajv_messages(error):
            subject = f"{context} {prefix} "
            if path:
                kind = "property " if prefix == "body" else "parameter "
                subject += kind + ".".join(path) + " "
            found.append(Violation((*location_root, prefix, *path), code, subject + message))
    return found


def _ajv_messages(error: ValidationError) -> list[tuple[list[str], str, str]]:
    path = [str(p) for p in error.absolute_path]
    keyword = str(error.validator)
    value: Any = error.validator_value
    instance = error.instance
    if keyword == "type":
        shown = ",".join(value) if isinstance(value, list) else value
        return [(path, keyword, f"must be {shown}")]
    if keyword == "required":
        missing = [r for r in value if isinstance(instance, dict) and r not in instance]
        return [(path, keyword, f"must have required property '{m}'") for m in missing]
    if keyword == "additionalProperties" and isinstance(instance, Mapping):
        schema = error.schema if isinstance(error.schema, Mapping) else {}
        known = set(schema.get("properties") or {})
        extras = [k for k in instance if k not in known]
        return [
            (path, keyword, f"must NOT have additional properties; found '{k}'") for k in extras
        ]
    if keyword == "unevaluatedProperties" and isinstance(instance, Mapping):
        return [(path, keyword, f"must NOT have unevaluated properties: {error.message}")]
    simple = {
        "minLength": f"must NOT have fewer than {value} characters",
        "maxLength": f"must NOT have more than {value} characters",
        "minimum": f"must be >= {value}",
        "maximum": f"must be <= {value}",
        "exclusiveMinimum": f"must be > {value}",
        "exclusiveMaximum": f"must be < {value}",
        "multipleOf": f"must be multiple of {value}",
        "minItems": f"must NOT have fewer than {value} items",
        "maxItems": f"must NOT have more than {value} items",
        "minProperties": f"must NOT have fewer than {value} properties",
        "maxProperties": f"must NOT have more than {value} properties",
        "pattern": f'must match pattern "{value}"',
        "format": f'must match format "{value}"',
        "const": "must be equal to constant",
        "uniqueItems": "must NOT have duplicate items",
        "oneOf": "must match exactly one schema in oneOf",
        "anyOf": "must match a schema in anyOf",
        "not": "must NOT be valid",
    }
    if keyword == "enum":
        allowed = ", ".join("null" if v is None else str(v) for v in value)
        return [(path, keyword, f"must be equal to one of the allowed values: {allowed}")]
    if keyword in simple:
        return [(path, keyword, simple[keyword])]
    return [(path, keyword, error.message)]
