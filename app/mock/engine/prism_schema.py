"""Schemas as Prism sees them: the rewrite @stoplight/http-spec applies before sampling or checking.

Prism never samples or validates a schema as written. When it loads a document, http-spec turns
every Schema Object into draft-07 JSON Schema, and three of its steps change what a client sees:

- `example` (and `x-example`) becomes `examples: [value]`, so the sampler's own order (`default`,
  `const`, `enum[0]`, allOf members, ... before `examples[0]`) wins over the example;
- `int32`, `int64`, `float` and `double` become `minimum`/`maximum` bounds (clamped to those the
  schema already has), so the static sample of an int64 is -9007199254740991, and values outside
  the bounds are reported as `maximum`/`minimum` violations besides the format's;
- `byte` gets the pattern `^[\\w\\d+\\/=]*$`.

`nullable` and boolean `exclusiveMinimum`/`exclusiveMaximum` are converted as well (in the same
order as http-spec, after the format bounds), which is what makes `{minimum: 3,
exclusiveMinimum: true}` sample as 4. The rewrite descends where http-spec does (`properties`,
`items`, `additionalProperties`, `additionalItems`, `allOf`, `anyOf`, `oneOf`, `not`) and leaves
`$ref`s (cycles the loader kept) as they are. A document that declares `jsonSchemaDialect` is
left alone, as http-spec leaves it.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from authsvc.contract import Contract, Operation, OperationPlan

_STRUCTS = ("allOf", "anyOf", "oneOf", "not", "items", "additionalProperties", "additionalItems")
_BYTE_PATTERN = "^[\\w\\d+\\/=]*$"
_FLOAT = float(2**128)
_RANGES: dict[str, tuple[int | float, int | float]] = {
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**53 - 1), 2**53 - 1),  # JavaScript's safe integers
    "float": (-_FLOAT, _FLOAT),  # 2**128 - 1 is 2**128 as a double
    "double": (-sys.float_info.max, sys.float_info.max),
}


def prism_view(schema: Any) -> Any:
    """A rewritten copy of an OpenAPI Schema Object (the input is never changed)."""
    if not isinstance(schema, Mapping) or "$ref" in schema:
        return schema
    out = dict(schema)
    for key in _STRUCTS:
        value = out.get(key)
        if isinstance(value, list):
            # http-spec drops members that are not schemas.
            out[key] = [prism_view(v) for v in value if isinstance(v, Mapping)]
        elif isinstance(value, Mapping):
            out[key] = prism_view(value)
    props = out.get("properties")
    if isinstance(props, Mapping):
        out["properties"] = {k: prism_view(v) for k, v in props.items()}
    for keyword in ("x-example", "example"):
        if keyword in out:
            out["examples"] = [out.pop(keyword)]
    fmt = out.get("format")
    if isinstance(fmt, str):
        if fmt in _RANGES:
            low, high = _RANGES[fmt]
            out["minimum"] = max(_number(out.get("minimum"), low, "minimum" in out), low)
            out["maximum"] = min(_number(out.get("maximum"), high, "maximum" in out), high)
        elif fmt == "byte":
            out["pattern"] = _BYTE_PATTERN
        if fmt in _RANGES or fmt == "byte":
            # ajv checks bounds and patterns before formats: violations come in that order.
            out["format"] = out.pop("format")
    for keyword in ("x-nullable", "nullable"):
        if keyword in out and isinstance(out.get("type"), str) and out.pop(keyword) is True:
            out["type"] = [out["type"], "null"]
            if isinstance(out.get("enum"), list):
                out["enum"] = [*out["enum"], None]
    for flag, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if flag not in out or _is_number(out[flag]):
            continue
        if out[flag] is True and _is_number(out.get(bound)):
            out[flag] = out.pop(bound)
        else:
            del out[flag]
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(value: Any, default: int | float, present: bool) -> int | float:
    """JavaScript's `Number(value)`, or `default` where that is NaN."""
    if not present:
        return default
    if value is None:
        return 0
    if isinstance(value, (bool, int, float)):
        return int(value) if isinstance(value, bool) else value
    if isinstance(value, str):
        try:
            number = float(value.strip() or 0)
        except ValueError:
            return default
        return int(number) if number.is_integer() else number
    return default


def changes_validation(node: Any) -> bool:
    """Whether the rewrite changes what validates: a bounded number format or `byte` somewhere
    (the other steps give what the 3.0 conversion gives already)."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, Mapping):
            fmt = item.get("format")
            if isinstance(fmt, str) and (fmt in _RANGES or fmt == "byte"):
                return True
            stack.extend(v for k, v in item.items() if k not in _DATA)
    return False


_DATA = ("example", "examples", "default", "enum", "const", "x-example")


def prism_plan(contract: Contract, operation: Operation) -> OperationPlan:
    """The operation's plan with every check compiled from schemas as Prism sees them.

    One compiler (`authsvc.contract.plan.compile_operation`) and one cache (`Contract.plan`): the
    service's plan is shared wherever the rewrite changes no verdict; only where it does (an
    int32 above 2**31 is also a `maximum` violation for Prism) is the plan compiled with the
    Prism view, once per operation.
    """
    if isinstance(contract.raw.get("jsonSchemaDialect"), str) or not changes_validation(
        [operation.parameters, operation.spec.get("requestBody"), operation.responses]
    ):
        return contract.plan(operation)
    return contract.plan(operation, prism_view)
