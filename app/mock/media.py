"""Media types: parsing, wildcard matching, Accept negotiation with q-values, serialisation."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from authsvc.mock.problems import NO_COMPLEX_OBJECT_TEXT, MockProblem


@dataclass(frozen=True)
class MediaRange:
    type: str
    subtype: str
    params: tuple[tuple[str, str], ...]
    q: float
    index: int


def essence(media_type: str) -> str:
    """`Application/JSON; charset=utf-8` -> `application/json`."""
    return media_type.split(";", 1)[0].strip().lower()


def is_json(media_type: str | None) -> bool:
    value = essence(media_type or "")
    return value == "application/json" or (
        value.startswith("application/") and value.endswith("+json")
    )


def wildcard_match(pattern: str, media_type: str) -> bool:
    """Does a (possibly wildcarded) contract media type accept this concrete one?"""
    p_type, _, p_sub = essence(pattern).partition("/")
    m_type, _, m_sub = essence(media_type).partition("/")
    return p_type in ("*", m_type) and p_sub in ("*", m_sub)


def parse_accept(header: str) -> list[MediaRange]:
    ranges = []
    for index, part in enumerate(header.split(",")):
        pieces = [p.strip() for p in part.split(";")]
        if not pieces[0]:
            continue
        kind, _, sub = pieces[0].lower().partition("/")
        params, q = [], 1.0
        for piece in pieces[1:]:
            key, _, value = piece.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
            elif key:
                params.append((key.strip().lower(), value.strip().strip('"')))
        ranges.append(MediaRange(kind, sub or "*", tuple(params), q, index))
    return ranges


def best_match(available: Sequence[str], accept: str) -> str | None:
    """The contract media type the client prefers most (RFC 9110 12.5.1), ties by Accept order."""
    ranges = parse_accept(accept)
    scored = []
    for position, candidate in enumerate(available):
        kind, _, sub = essence(candidate).partition("/")
        best: tuple[int, float, int] | None = None
        for r in ranges:
            if r.type not in ("*", kind) or r.subtype not in ("*", sub):
                continue
            specificity = (r.type == kind) * 4 + (r.subtype == sub) * 2 + bool(r.params)
            if best is None or specificity > best[0]:
                best = (specificity, r.q, r.index)
        if best is not None and best[1] > 0:
            scored.append((-best[1], -best[0], best[2], position, candidate))
    return min(scored)[-1] if scored else None


def serialise(body: Any, media_type: str | None) -> bytes:
    """Bytes for a body of this media type: JSON as JSON, text and XML strings as they are."""
    if body is None and media_type is None:
        return b""
    if isinstance(body, bytes):
        return body
    kind = essence(media_type or "")
    if is_json(kind):
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    if isinstance(body, str):
        return body.encode()
    if body is None:
        return b""
    if kind.startswith("text/"):
        raise MockProblem(NO_COMPLEX_OBJECT_TEXT, "Cannot serialise complex objects as text")
    # Prism fails here with a 500; JSON is the honest rendering of a structured example.
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
