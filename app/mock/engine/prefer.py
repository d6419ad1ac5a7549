"""Read the client's preferences: `Prefer: code=, example=, dynamic=, seed=, delay=`.

The `__code`/`__example`/`__dynamic`/`__seed`/`__delay` query forms apply only when no `Prefer`
header is sent, as in Prism. A malformed preference is a 422 whose detail reads like Prism's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from authsvc.mock.engine.problems import UNPROCESSABLE_ENTITY, MockProblem

_KEYS = ("code", "example", "dynamic", "seed", "delay")


@dataclass(frozen=True)
class Preferences:
    code: int | None = None
    example: str | None = None
    dynamic: bool | None = None
    seed: str | None = None
    delay_ms: int | None = None


_NOTHING = Preferences()


def parse_preferences(prefer_header: str | None, query: Mapping[str, list[str]]) -> Preferences:
    """Decode the preferences, raising the 422 problem that names every malformed one."""
    raw: dict[str, str | bool | list[str]]
    if prefer_header:
        raw = _parse_prefer_header(prefer_header)
    else:
        raw = {}
        for key in _KEYS:
            values = query.get(f"__{key}")
            if values:
                raw[key] = values[0] if len(values) == 1 else values
        if not raw:
            return _NOTHING
    errors: list[str] = []
    code = _decode(raw, "code", r"\d{3}", "a number", errors)
    dynamic = _decode(raw, "dynamic", r"true|false", "a boolean", errors)
    seed = _decode(raw, "seed", None, "", errors)
    example = _decode(raw, "example", None, "", errors)
    delay = _decode(raw, "delay", r"\d{1,6}", "a number of milliseconds", errors)
    if errors:
        raise MockProblem(UNPROCESSABLE_ENTITY, "\n".join(errors))
    return Preferences(
        code=int(code) if code is not None else None,
        example=example,
        dynamic=(dynamic == "true") if dynamic is not None else None,
        seed=seed,
        delay_ms=int(delay) if delay is not None else None,
    )


def _decode(
    raw: Mapping[str, str | bool | list[str]],
    key: str,
    pattern: str | None,
    expected: str,
    errors: list[str],
) -> str | None:
    if key not in raw:
        return None
    value = raw[key]
    if not isinstance(value, str):
        shown = "true" if value is True else repr(value)
        errors.append(f'optional property "{key}"\n└─ cannot decode {shown}, should be string')
        return None
    if pattern is not None and not re.fullmatch(pattern, value):
        errors.append(
            f'optional property "{key}"\n└─ cannot decode "{value}", should be {expected}'
        )
        return None
    return value


def _parse_prefer_header(header: str) -> dict[str, str | bool | list[str]]:
    """RFC 7240 preferences; the first occurrence of a token wins, a bare token means `true`."""
    result: dict[str, str | bool | list[str]] = {}
    for preference in _split_unquoted(header, ","):
        parts = _split_unquoted(preference, ";")
        token, _, value = parts[0].partition("=")
        key = token.strip().lower()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if key and key not in result:
            result[key] = value if value else True
    return result


def _split_unquoted(text: str, separator: str) -> list[str]:
    parts, current, quoted = [], "", False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == separator and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts
