"""Parity with the real Prism 5: the same requests, the same observable answers.

Compared per case: status, media type, body (static mode) or schema-validity (dynamic mode),
`sl-violations` (location, code), `WWW-Authenticate`, the CORS headers and contract headers.
Needs node and @stoplight/prism-cli (found via $AUTHSVC_TEST_PRISM_BIN, PATH or npx).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from authsvc.mock.serve.server import MockApp
from tests.mock.conftest import CONTRACTS
from tests.mock.corpus import CASES, DYNAMIC_CASES, KNOWN_DIFFERENCES, Case, as_kwargs
from tests.support.mock_servers import require_prism, running_mock, running_prism

CLIENT_HEADERS = (
    "www-authenticate",
    "access-control-allow-origin",
    "access-control-allow-headers",
    "access-control-allow-credentials",
    "access-control-expose-headers",
    "access-control-allow-methods",
    "vary",
    "x-total",
    "deprecation",
)


@pytest.fixture(scope="module")
def bases(contracts: Any) -> Iterator[dict[str, tuple[str, str]]]:
    """(prism URL, mock URL) per contract; all servers run for the whole module."""
    command = require_prism()
    names = sorted({case[1] for case in CASES + DYNAMIC_CASES})
    with _all_running(command, names, contracts) as urls:
        yield urls


class _all_running:
    def __init__(self, command: list[str], names: list[str], contracts: Any) -> None:
        self._contexts = [
            (name, running_prism(command, CONTRACTS / name), running_mock(MockApp(contracts[name])))
            for name in names
        ]

    def __enter__(self) -> dict[str, tuple[str, str]]:
        return {name: (p.__enter__(), m.__enter__()) for name, p, m in self._contexts}

    def __exit__(self, *exc: object) -> None:
        for _name, prism, mock in self._contexts:
            mock.__exit__(None, None, None)
            prism.__exit__(None, None, None)


def _observe(base: str, case: Case) -> tuple[int, str | None, Any, set[Any], dict[str, str]]:
    response = httpx.request(**{**as_kwargs(case), "url": base + case[3]}, timeout=10)
    media = response.headers.get("content-type")
    media = media.split(";")[0].strip().lower() if media else None
    try:
        body: Any = response.json() if response.content else None
    except ValueError:
        body = response.text
    violations = {
        (tuple(v["location"]), v.get("code"))
        for v in json.loads(response.headers.get("sl-violations", "[]"))
    }
    headers = {h: response.headers[h] for h in CLIENT_HEADERS if h in response.headers}
    return response.status_code, media, body, violations, headers


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_differential__static_answer_matches_prism(
    bases: dict[str, tuple[str, str]], case: Case
) -> None:
    prism_url, mock_url = bases[case[1]]
    if case[0] in KNOWN_DIFFERENCES:
        # A documented improvement over Prism: it must still differ, or the docs are stale.
        assert _observe(mock_url, case) != _observe(prism_url, case), KNOWN_DIFFERENCES[case[0]]
        return
    assert _observe(mock_url, case) == _observe(prism_url, case)


@pytest.mark.parametrize("case", DYNAMIC_CASES, ids=[c[0] for c in DYNAMIC_CASES])
def test_differential__dynamic_answer_is_valid_like_prisms(
    bases: dict[str, tuple[str, str]], case: Case
) -> None:
    prism_url, mock_url = bases[case[1]]
    ours, theirs = _observe(mock_url, case), _observe(prism_url, case)
    assert ours[:2] == theirs[:2]
    assert ours[3] == theirs[3]
    # Both servers check their own answers against the contract and report failures there.
    for base in (mock_url, prism_url):
        response = httpx.request(**{**as_kwargs(case), "url": base + case[3]}, timeout=10)
        assert "response" not in response.headers.get("sl-violations", ""), base
