"""Parity with Prism 5 on public, real-world OpenAPI documents (tests/mock/realworld.py).

Per document: six generated requests per operation, static and dynamic. Whole answers must be
equal on at least 99.5% of them, every other difference must be one listed in docs/mock.md
("Deliberate differences"), and the mock must never answer a 5xx that was not asked for.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from authsvc.contract import Contract, ContractError, load_contract
from authsvc.mock.serve.server import MockApp
from tests.mock.realworld import (
    DOCUMENTS,
    Document,
    ajv_cannot_compile,
    generate,
    no_final_answer,
    operation_of,
    require_documents,
)
from tests.mock.replay import Case, Explainer, Observed, Report, replay
from tests.support.mock_servers import require_prism, running_mock, running_prism

# The heaviest module of the suite (19 documents, a Prism process each): `-m "not slow"` skips it.
pytestmark = pytest.mark.slow


def explainer(contract: Contract) -> Explainer:
    """Which deliberate difference (docs/mock.md) a differing answer is an instance of, if any."""

    def explain(case: Case, ours: Observed, theirs: Observed) -> str | None:
        dynamic = case[0].endswith("~dyn")
        title = theirs[2].get("title", "") if isinstance(theirs[2], dict) else ""
        prefer = case[4].get("Prefer", "")
        if dynamic and "schema is not defined" in title:
            return "dynamic mode serves the example of a response without schema"
        if dynamic and f"code={ours[0]}" in prefer and theirs[0] != ours[0]:
            return "Prefer code is served (Prism falls back to another response)"
        if case[5] and _falsy_json(case[5]) and (("request",), "required") in theirs[3]:
            return 'a JSON body of 0, false, "" or null is a body (Prism: missing)'
        op = operation_of(contract, case[0])
        if op is not None and theirs[3] < ours[3]:  # we report what Prism does not check
            schemas = [p.get("schema") for p in op.parameters]
            body = (op.spec.get("requestBody") or {}).get("content") or {}
            schemas += [c.get("schema") for c in body.values() if isinstance(c, dict)]
            if any(ajv_cannot_compile(s) for s in schemas if s is not None):
                return "validated where Prism's ajv cannot compile the schema"
        extra = theirs[3] - ours[3]
        if op is not None and extra and all(code == "oneOf" for _loc, code in extra):
            params = {p.get("name", "").lower(): p.get("schema") or {} for p in op.parameters}
            if all(len(loc) == 3 and "oneOf" in (params.get(loc[2]) or {}) for loc, _code in extra):
                return "a parameter is read once, not coerced per oneOf branch"
        missing = theirs[3] - ours[3]
        if ours[0] == theirs[0] and missing:
            codes = {code for _loc, code in missing}
            if codes <= {"format"} and ours[3] <= theirs[3]:
                return PENDING_FORMATS
            if all(code in ("anyOf", "oneOf") for _loc, code in ours[3] - theirs[3]):
                return PENDING_BRANCH_ERRORS
        return None

    return explain


# Not deliberate: gaps whose fix belongs to the contract module's validators (issue 9 part 2,
# issue 12 item 4). Counted apart, allowed, and reported; they do not count as equal.
PENDING_FORMATS = "pending: uri/hostname/... formats are not checked (issue 12 item 4)"
PENDING_BRANCH_ERRORS = "pending: ajv also lists each failed anyOf/oneOf branch's errors"
PENDING = {PENDING_FORMATS, PENDING_BRANCH_ERRORS}


def _falsy_json(body: bytes) -> bool:
    try:
        return json.loads(body) in (0, False, "", None)
    except ValueError:
        return False


@pytest.fixture(scope="module")
def files() -> dict[str, Path]:
    return require_documents()


@pytest.fixture(scope="module")
def prism() -> list[str]:
    return require_prism()


# Documents Prism serves that our loader refuses: each must still fail to load (strict xfail),
# so the entry goes when the loader is fixed. Not a deliberate difference. None today.
LOADER_REFUSES: dict[str, str] = {}


def _report(document: Document, files: dict[str, Path], prism: list[str]) -> Report | str:
    try:
        contract = load_contract(files[document.name])
    except ContractError as exc:
        return str(exc)
    cases = list(generate(document.name, contract, document))
    with running_prism(prism, files[document.name]) as p, running_mock(MockApp(contract)) as m:
        return replay(cases, p, m, explainer(contract), no_final_answer(contract))


@pytest.fixture(scope="module")
def outcomes(files: dict[str, Path], prism: list[str]) -> dict[str, Report | str]:
    """Each document's report, or the loader's one-line refusal.

    Two documents at a time, each with its own Prism and mock on their own ports: about half of
    a document's time is Prism starting (Node), which overlaps the other document's replay. The
    answers compared do not depend on it; each replay is sequential within its document.
    """
    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = pool.map(lambda d: _report(d, files, prism), DOCUMENTS)
        return {d.name: report for d, report in zip(DOCUMENTS, reports, strict=True)}


@pytest.fixture(scope="module")
def reports(outcomes: dict[str, Report | str]) -> dict[str, Report]:
    return {n: r for n, r in outcomes.items() if isinstance(r, Report)}


def _loaded(reports: dict[str, Report], name: str) -> Report:
    if name not in reports:
        pytest.skip(f"{name} does not load (test_realworld__every_document_loads)")
    return reports[name]


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(d.name, marks=pytest.mark.xfail(strict=True, reason=LOADER_REFUSES[d.name]))
        if d.name in LOADER_REFUSES
        else d.name
        for d in DOCUMENTS
    ],
)
def test_realworld__every_document_loads(outcomes: dict[str, Report | str], name: str) -> None:
    assert isinstance(outcomes[name], Report), outcomes[name]


@pytest.mark.parametrize("name", [d.name for d in DOCUMENTS])
def test_realworld__answers_equal_prisms_but_for_listed_differences(
    reports: dict[str, Report], name: str
) -> None:
    report = _loaded(reports, name)
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
    assert _loaded(reports, name).mock_5xx == []


@pytest.mark.parametrize("name", [d.name for d in DOCUMENTS])
def test_realworld__dynamic_bodies_are_valid(reports: dict[str, Report], name: str) -> None:
    assert _loaded(reports, name).dynamic_invalid == []


def test_realworld__at_least_995_permille_of_whole_answers_equal(
    reports: dict[str, Report],
) -> None:
    """Equal whole answers, the listed deliberate differences aside (pending gaps count against)."""
    total = sum(r.total for r in reports.values())
    equal = sum(r.equal for r in reports.values())
    deliberate = sum(
        n for r in reports.values() for reason, n in r.explained.items() if reason not in PENDING
    )
    assert equal / (total - deliberate) >= 0.995, {n: r.summary() for n, r in reports.items()}
