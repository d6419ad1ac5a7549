"""Replay generated requests against two servers and compare what a client observes.

`python -m tests.mock.replay [NAME ...]` prints every difference on the real-world corpus
(needs Prism and $AUTHSVC_TEST_CORPUS_DIR, as the test does); the test asserts on the same data.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.mock.realworld import Case

# Headers a client acts on; everything else (date, connection, ...) is transport.
CLIENT_HEADERS = (
    "www-authenticate",
    "access-control-allow-origin",
    "access-control-allow-headers",
    "access-control-allow-credentials",
    "access-control-expose-headers",
    "access-control-allow-methods",
    "vary",
    "deprecation",
    "location",
)

Observed = tuple[int, str | None, Any, frozenset[Any], tuple[tuple[str, str], ...]]


# For a case with no final answer (a 1xx status): no answer is awaited, only the servers' silence
# observed, and it must end before they drop the connection (5 s for the mock, 6 s for Prism).
SHORT_WAIT = httpx.Timeout(30.0, read=3.0)


def observe(
    client: httpx.Client, base: str, case: Case, *, short: bool = False
) -> tuple[Observed, bool]:
    """What the client sees, and whether the server reported a problem with its own answer."""
    _id, _doc, method, url, headers, body = case
    timeout = SHORT_WAIT if short else httpx.USE_CLIENT_DEFAULT
    try:
        response = client.request(
            method, base + url, headers=headers, content=body, timeout=timeout
        )
    except httpx.TransportError as exc:  # Prism drops the connection on some contracts
        return (0, None, type(exc).__name__, frozenset(), ()), False
    media = response.headers.get("content-type")
    media = media.split(";")[0].strip().lower() if media else None
    try:
        value: Any = response.json() if response.content else None
    except ValueError:
        value = response.text
    raw = json.loads(response.headers.get("sl-violations", "[]"))
    found = [v for v in raw if v["location"][:1] != ["response"]]
    if isinstance(value, dict) and isinstance(value.get("validation"), list):
        # An invented 422 lists the request's violations in its body, not in sl-violations.
        found += [
            {**v, "location": ["request", *v.get("location", [])]} for v in value["validation"]
        ]
    violations = frozenset((tuple(v["location"]), v.get("code")) for v in found)
    own_problem = any(v["location"][:1] == ["response"] for v in raw)
    kept = tuple((h, response.headers[h]) for h in CLIENT_HEADERS if h in response.headers)
    return (response.status_code, media, value, violations, kept), own_problem


@dataclass
class Report:
    total: int = 0
    equal: int = 0
    explained: Counter[str] = field(default_factory=Counter)
    unexplained: list[tuple[str, Observed, Observed]] = field(default_factory=list)
    mock_5xx: list[str] = field(default_factory=list)
    dynamic_invalid: list[str] = field(default_factory=list)

    @property
    def share_equal(self) -> float:
        return self.equal / self.total if self.total else 1.0

    def summary(self) -> str:
        return (
            f"{self.equal}/{self.total} equal ({100 * self.share_equal:.2f}%), "
            f"explained {sum(self.explained.values())} {dict(self.explained)}, "
            f"unexplained {len(self.unexplained)}, mock 5xx {len(self.mock_5xx)}, "
            f"invalid dynamic {len(self.dynamic_invalid)}"
        )


Explainer = Callable[[Case, Observed, Observed], str | None]


def comparable(case: Case, answer: Observed) -> Observed:
    """Dynamic bodies are random: keep status, media type, request violations, headers."""
    if case[0].endswith("~dyn"):
        return (answer[0], answer[1], None, answer[3], answer[4])
    return answer


def replay(
    cases: Iterable[Case],
    prism: str,
    mock: str,
    explain: Explainer | None = None,
    no_final_answer: Callable[[Case], bool] | None = None,
) -> Report:
    report = Report()
    with httpx.Client(timeout=30) as left, httpx.Client(timeout=30) as right:
        for case in cases:
            report.total += 1
            short = no_final_answer(case) if no_final_answer else False
            ours, own_problem = observe(left, mock, case, short=short)
            theirs, _ = observe(right, prism, case, short=short)
            dynamic = case[0].endswith("~dyn")
            if ours[0] >= 500 and not _asked_for(case, ours):
                report.mock_5xx.append(case[0])
            if dynamic and own_problem and 200 <= ours[0] < 300:
                report.dynamic_invalid.append(case[0])
            a, b = comparable(case, ours), comparable(case, theirs)
            if a == b:
                report.equal += 1
                continue
            reason = explain(case, ours, theirs) if explain else None
            if reason:
                report.explained[reason] += 1
            else:
                report.unexplained.append((case[0], ours, theirs))
    return report


def _asked_for(case: Case, answer: Observed) -> bool:
    """A 5xx the client asked for (`Prefer: code=5xx`) or the contract's own answer (not a
    problem the mock invented, nor a server error page)."""
    if "code=5" in case[4].get("Prefer", ""):
        return True
    body = answer[2]
    invented = isinstance(body, dict) and str(body.get("type", "")).startswith(
        "https://stoplight.io/prism/errors#"
    )
    return answer[1] != "text/plain" and not invented and answer[0] != 0


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) < 400 else text[:400] + "..."


def main(argv: list[str]) -> int:
    from authsvc.contract import ContractError, load_contract
    from authsvc.mock.serve.server import MockApp
    from tests.mock.realworld import DOCUMENTS, generate, no_final_answer, require_documents
    from tests.mock.test_realworld import explainer
    from tests.support.mock_servers import require_prism, running_mock, running_prism

    files = require_documents()
    command = require_prism()
    for document in DOCUMENTS:
        if argv and document.name not in argv:
            continue
        try:
            contract = load_contract(files[document.name])
        except ContractError as exc:
            print(f"== {document.name}: not loaded: {exc}")
            continue
        cases = list(generate(document.name, contract, document))
        with (
            running_prism(command, files[document.name]) as p,
            running_mock(MockApp(contract)) as m,
        ):
            report = replay(cases, p, m, explainer(contract), no_final_answer(contract))
        print(f"== {document.name}: {report.summary()}")
        for cid, ours, theirs in report.unexplained:
            print(f"-- {cid}\n   ours:   {_short(ours)}\n   prism:  {_short(theirs)}")
        for cid in report.mock_5xx:
            print(f"!! mock 5xx: {cid}")
        for cid in report.dynamic_invalid:
            print(f"!! dynamic body failed the mock's own check: {cid}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
