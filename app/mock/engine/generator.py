"""Dynamic bodies: random values valid against the schema, repeatable with a seed.

A deliberate choice over porting json-schema-faker: a small generator driven by one seeded
`random.Random`, whose every result is checked against the schema (and redrawn, then replaced by
the static sample, if a combination such as `not` or `oneOf` defeats it). Same seed, same body.
"""

from __future__ import annotations

import importlib
import random
import string
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from jsonschema.protocols import Validator

from authsvc.contract import ContractRefs
from authsvc.mock.engine.sampler import infer_type, sample

_ATTEMPTS = 8
_MAX_DEPTH = 6
_WORDS = [
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
]
_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


def generate(
    schema: Any,
    validator: Validator,
    *,
    seed: str | None,
    root: Mapping[str, Any] | ContractRefs | None = None,
) -> Any:
    """A value valid against `schema` (checked with `validator`); seeded means repeatable."""
    rng = random.Random(seed) if seed is not None else random.Random()  # noqa: S311 - test data
    refs = ContractRefs.of(root)
    for _ in range(_ATTEMPTS):
        value = _Generator(rng, refs, validator).value(schema, 0, None)
        if validator.is_valid(value):
            return value
    return sample(schema, refs)


class _Generator:
    def __init__(
        self, rng: random.Random, refs: ContractRefs, validator: Validator | None = None
    ) -> None:
        self.rng = rng
        self.refs = refs
        self._validator = validator

    def _fits(self, schema: Mapping[str, Any], value: Any) -> bool | None:
        """Whether `value` is valid against this subschema; None when it cannot be checked
        alone (a `$ref` that only resolves from the whole document)."""
        if self._validator is None:
            return None
        try:
            return bool(self._validator.evolve(schema=schema).is_valid(value))
        except Exception:  # an unresolvable $ref out of context: leave it to the final check
            return None

    def _one_of(
        self, schema: Mapping[str, Any], base: dict[str, Any], depth: int, prop: str | None
    ) -> Any:
        """A value matching exactly one branch. Overlapping branches are common (GitHub's event
        payloads: one branch is any object), so each branch is tried, in random order, until
        one gives a value that matches no other; a whole-body redraw would rarely get there."""
        branches = [b for b in schema["oneOf"] if isinstance(b, Mapping)]
        self.rng.shuffle(branches)
        value: Any = None
        for branch in branches[: _ATTEMPTS * 2]:
            value = self.value(_merge_schemas(base, branch), depth, prop)
            if self._fits(schema, value) is not False:
                return value
        return value

    def value(self, schema: Any, depth: int, prop: str | None) -> Any:
        rng = self.rng
        if schema is True or not isinstance(schema, Mapping):
            return rng.choice(_WORDS) if schema is not False else None
        if "$ref" in schema:
            if depth >= _MAX_DEPTH:
                return None
            return self.value(self.refs.resolve(str(schema["$ref"])), depth + 1, prop)
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return rng.choice(schema["enum"])
        if isinstance(schema.get("allOf"), list):
            merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                merged = _merge_schemas(merged, part)
            return self.value(merged, depth, prop)
        for key in ("oneOf", "anyOf"):
            if isinstance(schema.get(key), list) and schema[key]:
                base = {k: v for k, v in schema.items() if k != key}
                if key == "oneOf" and self._validator is not None and len(schema[key]) > 1:
                    return self._one_of(schema, base, depth, prop)
                return self.value(_merge_schemas(base, rng.choice(schema[key])), depth, prop)
        kind = schema.get("type")
        if isinstance(kind, list):
            options = [k for k in kind if k != "null"] or ["null"]
            kind = rng.choice(options)
        kind = kind or infer_type(schema) or "string"
        return getattr(self, f"_{kind}", self._string)(schema, depth, prop)

    def _null(self, schema: Mapping[str, Any], depth: int, prop: str | None) -> None:
        return None

    def _boolean(self, schema: Mapping[str, Any], depth: int, prop: str | None) -> bool:
        return self.rng.random() < 0.5

    def _integer(self, schema: Mapping[str, Any], depth: int, prop: str | None) -> int:
        low, high = _bounds(schema, 0, 1000, step=1)
        step = schema.get("multipleOf")
        if isinstance(step, int) and step > 0:
            first = -(-int(low) // step) * step
            return first + step * self.rng.randint(0, max(0, int((high - first) // step)))
        return self.rng.randint(int(low), max(int(low), int(high)))

    def _number(self, schema: Mapping[str, Any], depth: int, prop: str | None) -> float | int:
        if isinstance(schema.get("multipleOf"), (int, float)):
            step = schema["multipleOf"]
            low, high = _bounds(schema, 0, 1000, step=step)
            count = self.rng.randint(
                int(low // step) + 1, max(int(low // step) + 1, int(high // step))
            )
            return count * step  # type: ignore[no-any-return]
        low, high = _bounds(schema, 0.0, 1000.0, step=0.001)
        return round(self.rng.uniform(low, high), 3) if high > low else low

    def _string(self, schema: Mapping[str, Any], depth: int, prop: str | None) -> str:
        rng = self.rng
        fmt = schema.get("format")
        if isinstance(schema.get("pattern"), str):
            return string_matching(schema["pattern"], rng)
        if fmt == "uuid":
            return str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if fmt in ("date-time", "date", "time"):
            moment = _EPOCH + timedelta(seconds=rng.randint(0, 5 * 365 * 86400))
            text = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
            return {"date": text[:10], "time": text[11:]}.get(str(fmt), text)
        if fmt in ("email", "idn-email"):
            return f"{rng.choice(_WORDS)}.{rng.randint(1, 999)}@example.com"
        if fmt in ("uri", "url", "iri", "uri-reference", "iri-reference"):
            return f"https://example.com/{rng.choice(_WORDS)}/{rng.randint(1, 999)}"
        if fmt in ("hostname", "idn-hostname"):
            return f"{rng.choice(_WORDS)}.example.com"
        if fmt == "ipv4":
            return ".".join(str(rng.randint(1, 254)) for _ in range(4))
        if fmt == "ipv6":
            return ":".join(f"{rng.randint(0, 0xFFFF):x}" for _ in range(8))
        if fmt == "byte":
            return "bW9jaw=="
        low = int(schema.get("minLength") or 0)
        high = int(schema.get("maxLength") or max(low, 24))
        words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 4)))
        while len(words) < low:
            words += rng.choice(string.ascii_lowercase)
        return words[: max(low, min(high, len(words)))]

    def _array(self, schema: Mapping[str, Any], depth: int, prop: str | None) -> list[Any]:
        prefix = schema.get("prefixItems")
        items = schema.get("items")
        low = int(schema.get("minItems") or 0)
        high = int(schema.get("maxItems", low + 3))
        if depth >= _MAX_DEPTH:
            high = low
        count = self.rng.randint(low, max(low, high))
        result: list[Any] = []
        if isinstance(prefix, list):
            result = [self.value(s, depth + 1, None) for s in prefix[: max(count, len(prefix))]]
        if items is False or isinstance(items, list):
            return result
        while len(result) < count:
            candidate = self.value(items if isinstance(items, Mapping) else {}, depth + 1, None)
            if schema.get("uniqueItems") and candidate in result:
                break
            result.append(candidate)
        return result

    def _object(self, schema: Mapping[str, Any], depth: int, prop: str | None) -> dict[str, Any]:
        properties = schema.get("properties") or {}
        required = set(schema.get("required") or ())
        result: dict[str, Any] = {}
        for name, sub in properties.items():
            if isinstance(sub, Mapping) and sub.get("writeOnly"):
                continue
            # Optional properties fade out with depth, so recursive schemas terminate.
            if name in required or self.rng.random() < (0.9 if depth < 2 else 0.3):
                result[name] = self.value(sub, depth + 1, name)
        for name in required - set(result):
            result[name] = self.value({}, depth + 1, name)
        extra = schema.get("additionalProperties")
        minimum = int(schema.get("minProperties") or 0)
        index = 0
        while len(result) < minimum and extra is not False:
            index += 1
            result[f"property{index}"] = self.value(
                extra if isinstance(extra, Mapping) else {}, depth + 1, None
            )
        return result


def _bounds(
    schema: Mapping[str, Any], low: float, high: float, *, step: float
) -> tuple[float, float]:
    """The inclusive range a number may take; open ends get the default width."""

    def bound(key: str, shift: float) -> float | None:
        value = schema.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value) + shift
        return None

    lows = [b for b in (bound("minimum", 0), bound("exclusiveMinimum", step)) if b is not None]
    highs = [b for b in (bound("maximum", 0), bound("exclusiveMaximum", -step)) if b is not None]
    width = high - low
    if lows and highs:
        return max(lows), min(highs)
    if lows:
        return max(lows), max(lows) + width
    if highs:
        return min(highs) - width, min(highs)
    return low, high


def _merge_schemas(base: Mapping[str, Any], extra: Any) -> dict[str, Any]:
    merged = dict(base)
    if not isinstance(extra, Mapping):
        return merged
    for key, value in extra.items():
        if key == "properties" and isinstance(merged.get(key), Mapping):
            merged[key] = {**merged[key], **value}
        elif key == "required" and isinstance(merged.get(key), list):
            merged[key] = [*merged[key], *[r for r in value if r not in merged[key]]]
        else:
            merged[key] = value
    return merged


# Strings that match a `pattern`, drawn from a seeded random source.

_MAX_REPEAT = 6
_CATEGORIES = {
    "CATEGORY_DIGIT": string.digits,
    "CATEGORY_NOT_DIGIT": string.ascii_letters,
    "CATEGORY_WORD": string.ascii_letters + string.digits + "_",
    "CATEGORY_NOT_WORD": " -.,",
    "CATEGORY_SPACE": " ",
    "CATEGORY_NOT_SPACE": string.ascii_letters + string.digits,
}


def string_matching(pattern: str, rng: random.Random) -> str:
    """A string for which `re.search(pattern, s)` holds; anchors are honoured, not required."""
    # re._parser is the stdlib's own regex parser; its public alias sre_parse warns on import.
    parser: Any = importlib.import_module("re._parser")
    return _emit(parser.parse(pattern), rng)


def _emit(tokens: Any, rng: random.Random) -> str:
    out = []
    for op, arg in tokens:
        name = str(op)
        if name == "LITERAL":
            out.append(chr(arg))
        elif name == "NOT_LITERAL":
            out.append(rng.choice([c for c in string.ascii_letters if ord(c) != arg]))
        elif name == "ANY":
            out.append(rng.choice(string.ascii_letters))
        elif name == "IN":
            out.append(_from_class(arg, rng))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, sub = arg
            count = rng.randint(low, max(low, min(high, low + _MAX_REPEAT)))
            out.extend(_emit(sub, rng) for _ in range(count))
        elif name in ("SUBPATTERN", "ATOMIC_GROUP"):
            out.append(_emit(arg[-1], rng))
        elif name == "BRANCH":
            out.append(_emit(rng.choice(arg[1]), rng))
        elif name == "GROUPREF":
            out.append("")
    return "".join(out)


def _from_class(items: Any, rng: random.Random) -> str:
    choices: list[str] = []
    negated = False
    for op, arg in items:
        name = str(op)
        if name == "NEGATE":
            negated = True
        elif name == "LITERAL":
            choices.append(chr(arg))
        elif name == "RANGE":
            low, high = arg
            choices.extend(chr(c) for c in range(low, min(high, low + 200) + 1))
        elif name == "CATEGORY":
            choices.extend(_CATEGORIES.get(str(arg), string.ascii_letters))
    if negated:
        banned = set(choices)
        choices = [c for c in string.ascii_letters + string.digits if c not in banned]
    return rng.choice(choices or list(string.ascii_letters))
