"""The validation proxy (`--proxy URL`): forward to a real server, report contract violations.

Like `prism proxy`: the upstream's answer is passed through, with the request's and response's
violations in `sl-violations` and the log; with `--errors`, a violation becomes a 500 problem.
"""

from __future__ import annotations

import json
import logging

import httpx

from authsvc.mock.engine import MockEngine, check_exchange
from authsvc.mock.model import MockRequest, MockResponse
from authsvc.mock.problems import UPSTREAM_UNREACHABLE, VIOLATIONS, MockProblem

log = logging.getLogger("authsvc.mock.proxy")
# Hop-by-hop headers (RFC 9110 7.6.1) and those httpx recomputes must not be forwarded.
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host",
               "content-length", "proxy-authorization", "proxy-authenticate"}  # fmt: skip


async def forward(
    client: httpx.AsyncClient,
    upstream: str,
    engine: MockEngine,
    request: MockRequest,
    *,
    errors: bool,
) -> MockResponse:
    """The upstream's answer to `request`, annotated with the contract's verdict on both."""
    url = upstream.rstrip("/") + request.path + (f"?{request.query}" if request.query else "")
    headers = [(k, v) for k, v in request.headers.items() if k not in _HOP_BY_HOP]
    try:
        upstream_response = await client.request(
            request.method, url, headers=headers, content=request.body
        )
    except httpx.HTTPError as exc:
        problem = MockProblem(UPSTREAM_UNREACHABLE, f"{upstream}: {exc}")
        return _problem_response(problem)
    body = upstream_response.content
    found = check_exchange(
        engine, request, upstream_response.status_code, dict(upstream_response.headers), body
    )
    for violation in found:
        log.warning("Violation: %s %s", ".".join(violation["location"]), violation["message"])
    if errors and any(v["severity"] == "Error" for v in found):
        problem = MockProblem(
            VIOLATIONS,
            "Your request/response is not valid and the --errors flag is set, so the mock is "
            "generating this error for you.",
            {"validation": found},
        )
        return _problem_response(problem)
    # httpx has decoded the body, so content-encoding no longer applies; an upstream that is
    # itself a mock reports its own violations, which ours replace.
    dropped = _HOP_BY_HOP | {"content-encoding", "sl-violations"}
    passed = [
        (k, v) for k, v in upstream_response.headers.multi_items() if k.lower() not in dropped
    ]
    if found:
        passed.insert(0, ("sl-violations", json.dumps(found, separators=(",", ":"))))
    return MockResponse(upstream_response.status_code, tuple(passed), body)


def _problem_response(problem: MockProblem) -> MockResponse:
    headers = (("content-type", "application/problem+json"),)
    return MockResponse(problem.status, headers, problem.body())
