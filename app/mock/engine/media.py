"""Media types: parsing, wildcard matching, Accept negotiation with q-values, serialisation."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from authsvc.mock.engine.problems import NO_COMPLEX_OBJECT_TEXT, MockProblem


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
    if is_xml(kind):
        return to_xml(body).encode()
    if kind.startswith("text/"):
        raise MockProblem(NO_COMPLEX_OBJECT_TEXT, "Cannot serialise complex objects as text")
    # Prism fails here with a 500; JSON is the honest rendering of a structured example.
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def is_xml(media_type: str) -> bool:
    """`application/xml` and `application/*+xml`, the types Prism serialises as XML."""
    kind = essence(media_type)
    return kind == "application/xml" or (kind.startswith("application/") and kind.endswith("+xml"))


_XML_ESCAPES = (("&", "&amp;"), (">", "&gt;"), ("<", "&lt;"), ("'", "&apos;"), ('"', "&quot;"))


def to_xml(value: Any, name: str = "xml") -> str:
    """A structured value as Prism writes it (fast-xml-parser's builder, default options).

    The value is wrapped in `<xml>`; an object's members become elements in order, an array
    repeats its element once per item, `null` is an empty-element tag, an empty value an empty
    pair of tags; no declaration, no indentation, no attributes.
    """
    if value is None:
        return f"<{name}/>"
    if isinstance(value, list):
        return "".join(f"<{name}/>" if item is None else to_xml(item, name) for item in value)
    if isinstance(value, dict):
        inner = "".join(to_xml(v, str(k)) for k, v in value.items())
        return f"<{name}>{inner}</{name}>"
    text = _js_text(value)
    for char, entity in _XML_ESCAPES:
        text = text.replace(char, entity)
    return f"<{name}>{text}</{name}>"


def _js_text(value: Any) -> str:
    """How JavaScript turns a JSON scalar into text (`true`, `5` for 5.0)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)
