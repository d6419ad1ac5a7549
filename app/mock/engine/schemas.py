"""Schema violations worded as Prism's (ajv) messages.

The validators themselves come from the contract's plan (`authsvc.contract.plan`): 3.1 schemas
as full JSON Schema 2020-12 (Prism falls back to draft-07 and so ignores `prefixItems`,
`unevaluatedProperties`, ...), 3.0 schemas as draft-07 with OpenAPI's `nullable` and boolean
exclusive bounds, as Prism does.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
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
    for error in _in_ajv_order(validator.iter_errors(instance)):
        for path, code, message in _ajv_messages(error, validator):
            subject = f"{context} {prefix} "
            if path:
                kind = "property " if prefix == "body" else "parameter "
                subject += kind + ".".join(path) + " "
            found.append(Violation((*location_root, prefix, *path), code, subject + message))
    return found


def _in_ajv_order(errors: Iterable[ValidationError]) -> list[ValidationError]:
    """ajv checks an object's `required` before its `properties`: a `required` error goes before
    the errors found inside the same object (jsonschema follows the schema's key order)."""
    ordered: list[ValidationError] = []
    for error in errors:
        if error.validator == "required":
            path = tuple(error.absolute_path)
            at = next(
                (
                    i
                    for i, e in enumerate(ordered)
                    if tuple(e.absolute_path)[: len(path)] == path
                    and not (e.validator == "required" and tuple(e.absolute_path) == path)
                ),
                len(ordered),
            )
            ordered.insert(at, error)
        else:
            ordered.append(error)
    return ordered


def _ajv_messages(
    error: ValidationError, validator: Validator | None = None
) -> list[tuple[list[str], str, str]]:
    path = [str(p) for p in error.absolute_path]
    keyword = str(error.validator)
    value: Any = error.validator_value
    instance = error.instance
    if keyword == "type":
        shown = ",".join(value) if isinstance(value, list) else value
        return [(path, keyword, f"must be {shown}")]
    if keyword == "required":
        # One error per missing property (jsonschema's message names it): one violation each.
        missing = _required_name(error.message)
        if missing is None:
            names = [r for r in value if isinstance(instance, dict) and r not in instance]
            missing = names[0] if names else ""
        return [(path, keyword, f"must have required property '{missing}'")]
    if keyword == "contains":
        # ajv (draft-07, as Prism validates every schema) reports each item's own errors too.
        found = _item_errors(validator, value, instance, path)
        return [*found, (path, keyword, "must contain at least 1 valid item(s)")]
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


_REQUIRED_SUFFIX = " is a required property"


def _required_name(message: str) -> str | None:
    """The property a jsonschema `required` message names (`'email' is a required property`)."""
    if not message.endswith(_REQUIRED_SUFFIX):
        return None
    try:
        name = ast.literal_eval(message[: -len(_REQUIRED_SUFFIX)])
    except (ValueError, SyntaxError):
        return None
    return name if isinstance(name, str) else None


def _item_errors(
    validator: Validator | None, schema: Any, instance: Any, path: list[str]
) -> list[tuple[list[str], str, str]]:
    if validator is None or not isinstance(instance, list):
        return []
    checker = validator.evolve(schema=schema)
    found: list[tuple[list[str], str, str]] = []
    for index, item in enumerate(instance):
        for error in checker.iter_errors(item):
            for sub, code, message in _ajv_messages(error, checker):
                found.append(([*path, str(index), *sub], code, message))
    return found
