"""The validation proxy (`--proxy URL`): forward to a real server, report contract violations.

Like `prism proxy`: the upstream's answer is passed through, with the request's and response's
violations in `sl-violations` and the log; with `--errors`, a violation becomes a 500 problem.

As a reverse proxy it also tells the truth about both ends: the client's address is appended to
`X-Forwarded-For` and `Forwarded` (RFC 7239), never replaced by what the client claims; a
`Location` pointing into the upstream is rewritten to the mock's own address; the answer carries
one `Date` (the mock's server adds it). An upstream that cannot be reached is a 502 whose detail
does not name the upstream (the address is logged, not told to clients).
"""

from __future__ import annotations

import json
import logging

import anyio.to_thread
import httpx

from authsvc.mock.engine.model import MockRequest, MockResponse
from authsvc.mock.engine.pipeline import MockEngine, check_exchange
from authsvc.mock.engine.problems import UPSTREAM_UNREACHABLE, VIOLATIONS, MockProblem

log = logging.getLogger("authsvc.mock.serve.proxy")
# Hop-by-hop headers (RFC 9110 7.6.1) and those httpx recomputes must not be forwarded.
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host",
               "content-length", "proxy-authorization", "proxy-authenticate"}  # fmt: skip
# Set by the proxy itself from what it saw, so the client's own values are not passed on as is.
_FORWARDING = {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded"}
# The mock's server writes its own Date; httpx has decoded the body, so content-encoding no
# longer applies; an upstream that is itself a mock reports its own violations, which ours replace.
_DROPPED_FROM_ANSWER = _HOP_BY_HOP | {"content-encoding", "sl-violations", "date"}


async def forward(
    client: httpx.AsyncClient,
    upstream: str,
    engine: MockEngine,
    request: MockRequest,
    *,
    errors: bool,
) -> MockResponse:
    """The upstream's answer to `request`, annotated with the contract's verdict on both."""
    base = upstream.rstrip("/")
    url = base + request.path + (f"?{request.query}" if request.query else "")
    headers = [(k, v) for k, v in request.headers.items() if k not in _HOP_BY_HOP | _FORWARDING]
    headers += forwarding_headers(request)
    try:
        upstream_response = await client.request(
            request.method, url, headers=headers, content=request.body
        )
    except httpx.HTTPError as exc:
        log.error("upstream %s did not answer %s %s: %r", base, request.method, request.path, exc)
        problem = MockProblem(
            UPSTREAM_UNREACHABLE, f"The upstream server did not answer ({type(exc).__name__})."
        )
        return _problem_response(problem)
    body = upstream_response.content
    exchange = (
        engine,
        request,
        upstream_response.status_code,
        dict(upstream_response.headers),
        body,
    )
    if engine.options.jwt is not None and engine.options.jwt.may_block:
        # As the mock's own answers: a JWKS refresh waits on the network, not on the event loop.
        found = await anyio.to_thread.run_sync(check_exchange, *exchange)
    else:
        found = check_exchange(*exchange)
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
    own = own_base(request)
    passed = []
    for name, value in upstream_response.headers.multi_items():
        lowered = name.lower()
        if lowered in _DROPPED_FROM_ANSWER:
            continue
        if lowered in ("location", "content-location") and own is not None:
            value = rewrite_location(value, base, own)
        passed.append((name, value))
    if found:
        passed.insert(0, ("sl-violations", json.dumps(found, separators=(",", ":"))))
    return MockResponse(upstream_response.status_code, tuple(passed), body)


def forwarding_headers(request: MockRequest) -> list[tuple[str, str]]:
    """X-Forwarded-For/-Proto/-Host and Forwarded, with the real peer appended."""
    out: list[tuple[str, str]] = []
    chain = request.headers.get("x-forwarded-for")
    forwarded = request.headers.get("forwarded")
    host = request.headers.get("host")
    if request.client is not None:
        out.append(("x-forwarded-for", f"{chain}, {request.client}" if chain else request.client))
        node = f'"[{request.client}]"' if ":" in request.client else request.client
        element = f"for={node};proto={request.scheme}"
        if host:
            element += f';host="{host}"'  # quoted: a host with a port is not an RFC 7230 token
        out.append(("forwarded", f"{forwarded}, {element}" if forwarded else element))
    else:  # in-process: no peer to add, the client's chain passes on unchanged
        if chain:
            out.append(("x-forwarded-for", chain))
        if forwarded:
            out.append(("forwarded", forwarded))
    out.append(("x-forwarded-proto", request.scheme))
    if host:
        out.append(("x-forwarded-host", host))
    return out


def own_base(request: MockRequest) -> str | None:
    """The mock's own origin as the client addressed it (`http://127.0.0.1:4010`)."""
    host = request.headers.get("host")
    return f"{request.scheme}://{host}" if host else None


def rewrite_location(value: str, upstream: str, own: str) -> str:
    """A URL into the upstream, as the same URL into the mock; any other URL unchanged."""
    if value == upstream or value.startswith((upstream + "/", upstream + "?", upstream + "#")):
        return own + value[len(upstream) :]
    return value


def _problem_response(problem: MockProblem) -> MockResponse:
    headers = (("content-type", "application/problem+json"),)
    return MockResponse(problem.status, headers, problem.body())
