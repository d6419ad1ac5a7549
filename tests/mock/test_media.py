"""Media types (`authsvc.mock.engine.media`): Accept negotiation with q-values and ranges, serialisation."""

from __future__ import annotations

from typing import Any

import pytest

from authsvc.mock.engine.media import (
    best_match,
    essence,
    is_json,
    parse_accept,
    serialise,
    wildcard_match,
)
from authsvc.mock.engine.problems import MockProblem

OFFERED = ["application/json", "application/xml", "text/plain"]


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("application/xml", "application/xml"),
        ("APPLICATION/XML", "application/xml"),
        ("text/plain;charset=utf-8", "text/plain"),
        ("application/xml, application/json", "application/xml"),
        ("application/json, application/xml", "application/json"),
        ("application/json;q=0.1, application/xml;q=0.9", "application/xml"),
        ("application/json;q=0.5, text/plain", "text/plain"),
        ("text/*", "text/plain"),
        ("*/*", "application/json"),
        ("*/*;q=0.1, text/plain", "text/plain"),
        ("application/*;q=0.5, application/xml;q=0", "application/json"),
        ("application/*, application/json;q=0", "application/xml"),
        ("application/json;q=abc, text/plain;q=0.2", "text/plain"),
        ("image/png, */*", "application/json"),
        ("image/png", None),
        ("application/xml;q=0", None),
        ("", None),
    ],
    ids=[
        "exact",
        "case-insensitive",
        "parameters-ignored-for-matching",
        "tie-by-accept-order",
        "tie-by-accept-order-reversed",
        "highest-q-wins",
        "implicit-q-one-beats-lower",
        "subtype-wildcard",
        "full-wildcard-takes-contract-order",
        "specific-beats-low-q-wildcard",
        "q-zero-excludes-specific-under-range",
        "specific-q-zero-overrides-range",
        "invalid-q-is-zero",
        "wildcard-fallback",
        "nothing-acceptable",
        "only-q-zero",
        "empty-accept",
    ],
)
def test_media__best_match(accept: str, expected: str | None) -> None:
    assert best_match(OFFERED, accept) == expected


@pytest.mark.parametrize(
    ("available", "accept", "expected"),
    [
        (["application/json; charset=utf-8"], "application/json", "application/json; charset=utf-8"),
        (["application/problem+json"], "application/json", None),
        (["text/plain", "application/json"], "*/*", "text/plain"),
        ([], "*/*", None),
    ],
    ids=["contract-parameters-kept", "structured-suffix-is-distinct", "contract-order", "none-offered"],
)  # fmt: skip
def test_media__best_match_returns_the_contract_key(
    available: list[str], accept: str, expected: str | None
) -> None:
    assert best_match(available, accept) == expected


def test_media__parse_accept_reads_q_and_parameters() -> None:
    ranges = parse_accept('text/html;level=1;q=0.7, */*;q=0.1, , application/json;charset="utf-8"')
    assert [(r.type, r.subtype, r.q, r.params) for r in ranges] == [
        ("text", "html", 0.7, (("level", "1"),)),
        ("*", "*", 0.1, ()),
        ("application", "json", 1.0, (("charset", "utf-8"),)),
    ]


@pytest.mark.parametrize(
    ("pattern", "media_type", "expected"),
    [
        ("application/json", "application/json", True),
        ("application/*", "application/json", True),
        ("*/*", "image/png", True),
        ("text/*", "application/json", False),
        ("Application/JSON; charset=utf-8", "application/json", True),
        ("application/json", "application/xml", False),
    ],
    ids=["exact", "subtype-wildcard", "full-wildcard", "other-type", "case-and-params", "other-subtype"],
)  # fmt: skip
def test_media__wildcard_match(pattern: str, media_type: str, expected: bool) -> None:
    assert wildcard_match(pattern, media_type) is expected


@pytest.mark.parametrize(
    ("media_type", "expected"),
    [
        ("application/json", True),
        ("Application/JSON; charset=utf-8", True),
        ("application/problem+json", True),
        ("application/vnd.api+json", True),
        ("text/json", False),
        ("application/xml", False),
        (None, False),
    ],
    ids=["json", "case-and-params", "problem", "vendor", "text-json", "xml", "none"],
)
def test_media__is_json(media_type: str | None, expected: bool) -> None:
    assert is_json(media_type) is expected


def test_media__essence() -> None:
    assert essence(" Application/JSON ; charset=utf-8") == "application/json"


@pytest.mark.parametrize(
    ("body", "media_type", "expected"),
    [
        ({"name": "Zoë"}, "application/json", '{"name":"Zoë"}'.encode()),
        ([1, 2], "application/problem+json", b"[1,2]"),
        ("plain", "application/json", b'"plain"'),
        (None, "application/json", b"null"),
        ("Rex the dog", "text/plain", b"Rex the dog"),
        ("<pets/>", "application/xml", b"<pets/>"),
        ({"a": 1}, "application/x-yaml", b'{"a":1}'),
        (
            {"a": 1, "b": [True, None], "c": "x<&"},
            "application/xml",
            b"<xml><a>1</a><b>true</b><b/><c>x&lt;&amp;</c></xml>",
        ),
        (
            [{"id": 0}, {"id": 1}],
            "application/atom+xml",
            b"<xml><id>0</id></xml><xml><id>1</id></xml>",
        ),
        (b"\x00raw", "application/octet-stream", b"\x00raw"),
        (None, None, b""),
        (None, "text/plain", b""),
    ],
    ids=[
        "json-compact-utf8",
        "json-suffix",
        "json-string-quoted",
        "json-null",
        "text-as-is",
        "xml-string-as-is",
        "structured-non-json-sent-as-json",
        "structured-xml-as-prism-writes-it",
        "xml-suffix-array-repeats-the-element",
        "bytes-untouched",
        "no-body",
        "text-none-is-empty",
    ],
)
def test_media__serialise(body: Any, media_type: str | None, expected: bytes) -> None:
    assert serialise(body, media_type) == expected


def test_media__serialise_object_as_text_is_a_problem() -> None:
    with pytest.raises(MockProblem) as caught:
        serialise({"a": 1}, "text/plain")
    assert (caught.value.status, caught.value.template.type) == (500, "NO_COMPLEX_OBJECT_TEXT")
