"""Schema violations worded as Prism's (ajv) messages.

The validators themselves come from the contract's plan (`authsvc.contract.plan`): 3.1 schemas
as full JSON Schema 2020-12 (Prism falls back to draft-07 and so ignores `prefixItems`,
`unevaluatedProperties`, ...), 3.0 schemas as draft-07 with OpenAPI's `nullable` and boolean
exclusive bounds, as Prism does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator

from authsvc.mock.engine.model import Violation


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
