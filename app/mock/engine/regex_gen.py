"""Strings that match a `pattern`, drawn from a seeded random source (for dynamic bodies)."""

from __future__ import annotations

import importlib
import random
import string
from typing import Any

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
