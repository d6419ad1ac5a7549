"""Preferences (`authsvc.mock.engine.prefer`): the `Prefer` header, its `__` query forms, malformed values."""

from __future__ import annotations

import pytest

from authsvc.mock.engine.prefer import Preferences, parse_preferences
from authsvc.mock.engine.problems import MockProblem

Query = dict[str, list[str]]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("code=404", Preferences(code=404)),
        ('code="404"', Preferences(code=404)),
        ("Code=404", Preferences(code=404)),
        ("example=rex", Preferences(example="rex")),
        ('example="a, b"', Preferences(example="a, b")),
        ("dynamic=true", Preferences(dynamic=True)),
        ("dynamic=false", Preferences(dynamic=False)),
        ("seed=abc", Preferences(seed="abc")),
        ("delay=250", Preferences(delay_ms=250)),
        ("delay=0", Preferences(delay_ms=0)),
        (
            "code=201, example=tom, dynamic=true, seed=7, delay=5",
            Preferences(code=201, example="tom", dynamic=True, seed="7", delay_ms=5),
        ),
        ("code=200,example=x", Preferences(code=200, example="x")),
        ("code=200, code=404", Preferences(code=200)),
        ("code=200; foo=bar", Preferences(code=200)),
        ("respond-async, wait=10, code=404", Preferences(code=404)),
        (" ", Preferences()),
    ],
    ids=[
        "code",
        "code-quoted",
        "token-case-insensitive",
        "example",
        "example-quoted-with-comma",
        "dynamic-true",
        "dynamic-false",
        "seed",
        "delay",
        "delay-zero",
        "all-together",
        "no-space-after-comma",
        "first-occurrence-wins",
        "parameters-ignored",
        "unknown-preferences-ignored",
        "blank-header",
    ],
)
def test_prefer__header_forms(header: str, expected: Preferences) -> None:
    assert parse_preferences(header, {}) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"__code": ["404"]}, Preferences(code=404)),
        ({"__example": ["tom"]}, Preferences(example="tom")),
        ({"__dynamic": ["true"], "__seed": ["42"]}, Preferences(dynamic=True, seed="42")),
        ({"__delay": ["30"]}, Preferences(delay_ms=30)),
        ({"code": ["404"], "dynamic": ["true"]}, Preferences()),
        ({}, Preferences()),
    ],
    ids=["code", "example", "dynamic-and-seed", "delay", "without-underscores-ignored", "none"],
)
def test_prefer__query_forms_without_header(query: Query, expected: Preferences) -> None:
    assert parse_preferences(None, query) == expected


@pytest.mark.parametrize(
    ("header", "query", "expected"),
    [
        ("dynamic=false", {"__code": ["404"]}, Preferences(dynamic=False)),
        ("code=201", {"__code": ["404"], "__example": ["x"]}, Preferences(code=201)),
        ("seed=1", {"__dynamic": ["true"], "__seed": ["2"]}, Preferences(seed="1")),
        ("respond-async", {"__code": ["404"]}, Preferences()),
        ("code=abc", {"__code": ["404"]}, None),
        ("", {"__code": ["404"]}, Preferences(code=404)),
    ],
    ids=[
        "code-query-ignored",
        "header-code-wins",
        "seed-and-dynamic-query-ignored",
        "unrelated-header-still-hides-query",
        "malformed-header-not-rescued-by-query",
        "empty-header-counts-as-absent",
    ],
)
def test_prefer__query_forms_ignored_when_header_present(
    header: str, query: Query, expected: Preferences | None
) -> None:
    if expected is None:
        with pytest.raises(MockProblem):
            parse_preferences(header, query)
    else:
        assert parse_preferences(header, query) == expected


@pytest.mark.parametrize(
    ("header", "query", "detail"),
    [
        ("code=abc", {}, 'optional property "code"\n└─ cannot decode "abc", should be a number'),
        ("code=2000", {}, 'optional property "code"\n└─ cannot decode "2000", should be a number'),
        ("code", {}, 'optional property "code"\n└─ cannot decode true, should be string'),
        ("code=", {}, 'optional property "code"\n└─ cannot decode true, should be string'),
        (
            "dynamic=yes",
            {},
            'optional property "dynamic"\n└─ cannot decode "yes", should be a boolean',
        ),
        ("dynamic", {}, 'optional property "dynamic"\n└─ cannot decode true, should be string'),
        (
            "delay=abc",
            {},
            'optional property "delay"\n└─ cannot decode "abc", should be a number of milliseconds',
        ),
        (
            "delay=1234567",
            {},
            'optional property "delay"\n'
            '└─ cannot decode "1234567", should be a number of milliseconds',
        ),
        ("example", {}, 'optional property "example"\n└─ cannot decode true, should be string'),
        (None, {"__dynamic": ["maybe"]}, 'cannot decode "maybe", should be a boolean'),
        (None, {"__code": ["200", "404"]}, 'optional property "code"'),
    ],
    ids=[
        "code-not-a-number",
        "code-four-digits",
        "code-bare-token",
        "code-empty",
        "dynamic-not-boolean",
        "dynamic-bare-token",
        "delay-not-a-number",
        "delay-too-long",
        "example-bare-token",
        "query-dynamic-not-boolean",
        "query-code-repeated",
    ],
)
def test_prefer__malformed_is_422_with_prism_detail(
    header: str | None, query: Query, detail: str
) -> None:
    with pytest.raises(MockProblem) as caught:
        parse_preferences(header, query)
    assert caught.value.status == 422
    assert caught.value.template.type == "UNPROCESSABLE_ENTITY"
    assert detail in caught.value.detail


def test_prefer__malformed_names_every_bad_preference() -> None:
    with pytest.raises(MockProblem) as caught:
        parse_preferences("code=abc, dynamic=yes, delay=x, seed=ok", {})
    lines = caught.value.detail.splitlines()
    assert [line for line in lines if line.startswith("optional property")] == [
        'optional property "code"',
        'optional property "dynamic"',
        'optional property "delay"',
    ]
