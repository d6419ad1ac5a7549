"""Parity with Prism 5 on public, real-world OpenAPI documents (tests/mock/realworld.py).

Per document: six generated requests per operation, static and dynamic. Whole answers must be
equal on at least 99.5% of them, every other difference must be one listed in docs/mock.md
("Deliberate differences"), and the mock must never answer a 5xx that was not asked for.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from authsvc.contract import load_contract
from authsvc.mock.server import MockApp
from tests.mock.realworld import DOCUMENTS, Document, generate, require_documents
from tests.mock.replay import Case, Observed, Report, replay
from tests.mock.servers import require_prism, running_mock, running_prism


def explain(case: Case, ours: Observed, theirs: Observed) -> str | None:
    """The deliberate difference (docs/mock.md) a differing answer is an instance of, if any."""
    if ours[0] == 405 and theirs[0] == 405 and ("allow" in dict(ours[4])):
        return "405 carries Allow"
    return None


@pytest.fixture(scope="module")
def files() -> dict[str, Path]:
    return require_documents()


@pytest.fixture(scope="module")
def prism() -> list[str]:
    return require_prism()


def _report(document: Document, files: dict[str, Path], prism: list[str]) -> Report:
    contract = load_contract(files[document.name])
    cases = list(generate(document.name, contract, document))
    with running_prism(prism, files[document.name]) as p, running_mock(MockApp(contract)) as m:
        return replay(cases, p, m, explain)


@pytest.fixture(scope="module")
def reports(files: dict[str, Path], prism: list[str]) -> dict[str, Report]:
    return {d.name: _report(d, files, prism) for d in DOCUMENTS}


@pytest.mark.parametrize("name", [d.name for d in DOCUMENTS])
def test_realworld__answers_equal_prisms_but_for_listed_differences(
    reports: dict[str, Report], name: str
) -> None:
    report = reports[name]
    assert report.total > 0
    assert not report.unexplained, (
        report.summary()
        + "\n"
        + "\n".join(
            f"{cid}\n  ours:  {ours}\n  prism: {theirs}"
            for cid, ours, theirs in report.unexplained[:5]
        )
    )


@pytest.mark.parametrize("name", [d.name for d in DOCUMENTS])
def test_realworld__mock_never_answers_an_unasked_5xx(
    reports: dict[str, Report], name: str
) -> None:
    assert reports[name].mock_5xx == []


@pytest.mark.parametrize("name", [d.name for d in DOCUMENTS])
def test_realworld__dynamic_bodies_are_valid(reports: dict[str, Report], name: str) -> None:
    assert reports[name].dynamic_invalid == []


def test_realworld__at_least_995_permille_of_whole_answers_equal(
    reports: dict[str, Report],
) -> None:
    total = sum(r.total for r in reports.values())
    equal = sum(r.equal for r in reports.values())
    assert equal / total >= 0.995, {n: r.summary() for n, r in reports.items()}
