"""Parity with the real Prism 5 on our own corpus (tests/mock/parity): one small document per
behaviour, in 3.0, 3.1 and Swagger 2.0, written as teams write them; the same requests to Prism
and to the mock give the same answers, but for the listed deliberate differences.

Compared: status, media type, body (static), request violations as a list (location, code: so a
violation reported twice counts twice), and the headers a client acts on. Each version's
behaviours are merged into one served document (parity/batches.py), so a few Prism processes
answer everything, started side by side.
"""

from __future__ import annotations

import json
import subprocess
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from authsvc.contract import ContractWarning, load_contract
from authsvc.mock.serve.server import MockApp
from tests.mock.parity.batches import VERSIONS, behaviours, write_batches
from tests.mock.parity.cases import CASES, KNOWN_DIFFERENCES, Request
from tests.mock.replay import CLIENT_HEADERS
from tests.support.mock_servers import free_port, require_prism, running_mock, wait_until_up

Answer = tuple[int, str | None, Any, list[Any], tuple[tuple[str, str], ...]]


def _ids() -> list[tuple[str, str, Request]]:
    found = []
    for version in VERSIONS:
        names = {b.name for b in behaviours(version)}
        for name in sorted(names):
            found += [(name, version, r) for r in CASES.get(name, ()) if version in r.versions]
    return found


CASE_LIST = _ids()


def case_id(name: str, version: str, request: Request) -> str:
    return f"{name} {version}: {request.label}"


@contextmanager
def _prisms(command: list[str], documents: list[Path]) -> Iterator[dict[Path, str]]:
    """One Prism per document, all started before any is waited for."""
    started = []
    for document in documents:
        port = free_port()
        args = [*command, "mock", "-h", "127.0.0.1", "-p", str(port), str(document)]
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append((document, process, f"http://127.0.0.1:{port}"))
    try:
        for _document, _process, base in started:
            wait_until_up(base + "/", timeout=120)
        yield {document: base for document, _process, base in started}
    finally:
        for _document, process, _base in started:
            process.terminate()
        for _document, process, _base in started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def observe(client: httpx.Client, base: str, request: Request) -> Answer:
    try:
        response = client.request(
            request.method, base + request.path, headers=request.headers, content=request.body
        )
    except httpx.TransportError as exc:  # Prism drops the connection on some requests
        return 0, None, type(exc).__name__, [], ()
    media = response.headers.get("content-type")
    media = media.split(";")[0].strip().lower() if media else None
    try:
        body: Any = response.json() if response.content else None
    except ValueError:
        body = response.text
    raw = json.loads(response.headers.get("sl-violations", "[]"))
    found = [v for v in raw if v["location"][:1] != ["response"]]
    if isinstance(body, dict) and isinstance(body.get("validation"), list):
        found += [
            {**v, "location": ["request", *v.get("location", [])]} for v in body["validation"]
        ]
    violations = sorted((tuple(v["location"]), str(v.get("code"))) for v in found)
    headers = tuple((h, response.headers[h]) for h in CLIENT_HEADERS if h in response.headers)
    if request.dynamic:
        body = None
    return response.status_code, media, body, violations, headers


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Answer, Answer]]:
    """(mock's answer, Prism's answer) by case id."""
    command = require_prism()
    folder = tmp_path_factory.mktemp("parity")
    served = {version: write_batches(version, folder) for version in VERSIONS}
    documents = sorted({path for by_name in served.values() for path in by_name.values()})
    results: dict[str, tuple[Answer, Answer]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ContractWarning)
        apps = {document: MockApp(load_contract(document, lenient=True)) for document in documents}
    with ExitStack() as stack, httpx.Client(timeout=30) as client:
        prisms = stack.enter_context(_prisms(command, documents))
        mocks = {d: stack.enter_context(running_mock(app)) for d, app in apps.items()}
        for name, version, request in CASE_LIST:
            document = served[version][name]
            ours = observe(client, mocks[document], request)
            theirs = observe(client, prisms[document], request)
            results[case_id(name, version, request)] = (ours, theirs)
    return results


@pytest.mark.parametrize(
    "case", [case_id(*c) for c in CASE_LIST], ids=[case_id(*c) for c in CASE_LIST]
)
def test_parity__answer_matches_prisms(
    answers: dict[str, tuple[Answer, Answer]], case: str
) -> None:
    ours, theirs = answers[case]
    if case in KNOWN_DIFFERENCES:
        assert ours != theirs, f"listed as different, but equal: {KNOWN_DIFFERENCES[case]}"
        return
    assert ours == theirs


def test_parity__agreement(answers: dict[str, tuple[Answer, Answer]]) -> None:
    """At least 98% of the corpus's answers are equal, the deliberate differences included."""
    equal = sum(ours == theirs for ours, theirs in answers.values())
    share = equal / len(answers)
    print(f"\nparity corpus: {equal}/{len(answers)} answers equal ({100 * share:.1f}%)")
    assert share >= 0.98
