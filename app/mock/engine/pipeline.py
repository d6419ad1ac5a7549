"""The mock engine: one pure function from request to response, in Prism's order.

    CORS preflight -> Prefer -> routing -> security -> body -> headers/query/path
    -> negotiation (status, media type, example) -> body and headers -> self-check

Both adapters (ASGI server, respx router) only translate to and from `MockRequest` and
`MockResponse`; everything a client can observe is decided here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from authsvc.contract import Contract, Operation
from authsvc.mock.engine.body import BodyValidator
from authsvc.mock.engine.model import MockOptions, MockRequest, MockResponse, Violation
from authsvc.mock.engine.negotiation import Negotiated, for_invalid_request, for_valid_request
from authsvc.mock.engine.params import ParameterValidator
from authsvc.mock.engine.prefer import Preferences, parse_preferences
from authsvc.mock.engine.prism_schema import prism_plan
from authsvc.mock.engine.problems import (
    FORBIDDEN,
    INVALID_CONTENT_TYPE,
    UNAUTHORIZED,
    UNPROCESSABLE_ENTITY,
    VIOLATIONS,
    MockProblem,
)
from authsvc.mock.engine.render import Renderer
from authsvc.mock.engine.response_check import ResponseChecker
from authsvc.mock.engine.routing import Router, param_name
from authsvc.mock.engine.security import check_security

_MAX_VIOLATIONS_HEADER = 8 * 1024 - 100
_MAX_ANSWERS = 256  # per operation: (code, example, dynamic, Accept) combinations remembered

# A rendered answer: status, headers, body, and the mock's verdict on it.
_Answer = tuple[int, tuple[tuple[str, str], ...], bytes, tuple[Violation, ...]]


@dataclass(frozen=True)
class _Compiled:
    operation: Operation
    params: ParameterValidator
    body: BodyValidator
    responses: ResponseChecker
    security: tuple[Mapping[str, Any], ...]
    deprecated: bool
    # Negotiation is a pure function of the preferences and Accept, and a static answer (no
    # generator involved) of the negotiated response: both are remembered, bounded.
    negotiated: dict[tuple[Any, ...], Negotiated] = field(default_factory=dict)
    answers: dict[tuple[Any, ...], _Answer] = field(default_factory=dict)


class MockEngine:
    """A contract, compiled for answering requests; `handle` never raises."""

    def __init__(self, contract: Contract, options: MockOptions | None = None) -> None:
        self.contract = contract
        self.options = options or MockOptions()
        self.router = Router(contract)
        self._schemes = contract.security_schemes()
        self._root_security = tuple(contract.resolved.get("security") or ())
        self._compiled: dict[tuple[str, str], _Compiled] = {}
        self._renderer = Renderer(contract, self.options)

    def routes(self) -> list[tuple[str, str]]:
        """(METHOD, path) of every operation served, in document order."""
        return [(r.operation.method.upper(), r.operation.path) for r in self.router.routes]

    def handle(self, request: MockRequest) -> MockResponse:
        """Answer one request as Prism would (plus the documented extensions)."""
        cors: tuple[tuple[str, str], ...] = ()
        if self.options.cors:
            if request.method == "OPTIONS" and (answer := preflight(request)) is not None:
                return answer
            cors = cors_headers(request)
        delay = self.options.delay_ms
        try:
            query = request.query_params()
            prefs = parse_preferences(request.headers.get("prefer"), query)
            delay = prefs.delay_ms if prefs.delay_ms is not None else delay
            status, headers, body, found = self._answer(request, prefs, query)
        except MockProblem as problem:
            status, body, found = problem.status, problem.body(), ()
            headers = (("content-type", "application/problem+json"), *problem.headers.items())
        return MockResponse(status, cors + headers, body, delay_ms=delay, violations=found)

    def _answer(
        self, request: MockRequest, prefs: Preferences, query: Mapping[str, list[str]]
    ) -> _Answer:
        server = query.get("__server")
        match = self.router.match(request.method, request.path, server[0] if server else None)
        compiled = self._compile(match.operation)
        path_params = {param_name(k): v for k, v in match.raw_path_params.items()}
        outcome = check_security(
            request, compiled.security, self._schemes, path_params, self.options.jwt
        )
        inputs = [
            *outcome.violations,
            *compiled.body.validate(request),
            *compiled.params.validate(request, path_params),
        ]
        dynamic = self.options.dynamic if prefs.dynamic is None else prefs.dynamic
        if any(v.severity == "Error" for v in inputs):
            chosen = self._for_invalid(compiled, inputs, prefs, outcome.status, outcome.tags)
            status, headers, body, outputs = self._render(compiled, chosen, dynamic, prefs.seed)
        else:
            accept = request.headers.get("accept")
            key = (prefs.code, prefs.example, dynamic, accept)
            answer = None if dynamic else compiled.answers.get(key)
            if answer is None:
                chosen = compiled.negotiated.get(key) or _remember(
                    compiled.negotiated,
                    key,
                    for_valid_request(
                        compiled.operation.responses,
                        compiled.operation.method,
                        code=prefs.code,
                        example=prefs.example,
                        dynamic=dynamic,
                        accept=accept,
                    ),
                )
                answer = self._render(compiled, chosen, dynamic, prefs.seed)
                if not dynamic:  # a generated body changes with the seed (or at random)
                    _remember(compiled.answers, key, answer)
            status, headers, body, outputs = answer
        if self.options.errors and any(v.severity == "Error" for v in outputs):
            raise MockProblem(
                VIOLATIONS,
                "Your request/response is not valid and the --errors flag is set, so the mock "
                "is generating this error for you.",
                {"validation": [_prefixed(v, "response") for v in outputs]},
            )
        if inputs or outputs:
            reported = [_prefixed(v, "request") for v in inputs]
            reported += [_prefixed(v, "response") for v in outputs]
            value = json.dumps(reported, separators=(",", ":"))
            if len(value) > _MAX_VIOLATIONS_HEADER:
                value = "Too many violations! " + value[:_MAX_VIOLATIONS_HEADER]
            headers = (("sl-violations", value), *headers)
        return status, headers, body, (*inputs, *outputs)

    def _render(
        self, compiled: _Compiled, chosen: Negotiated, dynamic: bool, seed: str | None
    ) -> _Answer:
        """The chosen response as bytes and headers, with the mock's check of it."""
        seed = seed if seed is not None else self.options.seed
        status, headers, body, has_body, checked = self._renderer.render(
            compiled.responses, chosen, dynamic=dynamic, seed=seed
        )
        if compiled.deprecated:
            headers.append(("deprecation", "true"))
        outputs: list[Violation] = []
        if compiled.operation.method != "head":
            lowered = {k.lower(): v for k, v in headers}
            outputs = compiled.responses.check(
                status, lowered, body, has_body=has_body, value=checked
            )
        return status, tuple(headers), body, tuple(outputs)

    def _for_invalid(
        self,
        compiled: _Compiled,
        inputs: list[Violation],
        prefs: Preferences,
        security_status: int | None,
        tags: tuple[str, ...],
    ) -> Negotiated:
        if security_status is not None:
            expected = [security_status]
        elif any(v.code == 415 for v in inputs):
            expected = [415, 422, 400]
        else:
            expected = [422, 400]
        example = prefs.example if prefs.code in expected else None
        chosen = for_invalid_request(compiled.operation.responses, expected, example=example)
        if chosen is not None:
            return chosen
        if security_status == 403:
            message = next(v.message for v in inputs if v.code == 403)
            raise MockProblem(FORBIDDEN, message)
        if security_status == 401:
            detail = (
                "Your request does not fullfil the security requirements and no HTTP "
                "unauthorized response was found in the spec, so Prism is generating this "
                "error for you."
            )
            headers = {"WWW-Authenticate": ",".join(tags)} if tags else {}
            raise MockProblem(UNAUTHORIZED, detail, headers=headers, headers_in_body=True)
        unsupported = next((v for v in inputs if v.code == 415), None)
        if unsupported is not None:
            raise MockProblem(INVALID_CONTENT_TYPE, unsupported.message)
        raise MockProblem(
            UNPROCESSABLE_ENTITY,
            "Your request is not valid and no HTTP validation response was found in the spec, "
            "so Prism is generating this error for you.",
            # Prism leaves `location` out of a violation that has none ("Body parameter is
            # required").
            {"validation": [_located(v) for v in inputs]},
        )

    def _compile(self, op: Operation) -> _Compiled:
        key = (op.path, op.method)
        if key not in self._compiled:
            plan = prism_plan(self.contract, op)
            security = op.spec.get("security")
            self._compiled[key] = _Compiled(
                op,
                ParameterValidator(op.parameters, plan.locations),
                BodyValidator(op.spec.get("requestBody"), plan),
                ResponseChecker(op, plan),
                tuple(self._root_security if security is None else security),
                bool(op.spec.get("deprecated")),
            )
        return self._compiled[key]


def _remember(memo: dict[tuple[Any, ...], Any], key: tuple[Any, ...], value: Any) -> Any:
    if len(memo) >= _MAX_ANSWERS:
        memo.clear()
    memo[key] = value
    return value


def _located(violation: Violation) -> dict[str, Any]:
    item = violation.as_json()
    if not item["location"]:
        del item["location"]
    return item


def _prefixed(violation: Violation, prefix: str) -> dict[str, Any]:
    item = violation.as_json()
    item["location"] = [prefix, *item["location"]]
    return item


def check_exchange(
    engine: MockEngine, request: MockRequest, status: int, headers: Mapping[str, str], body: bytes
) -> list[dict[str, Any]]:
    """Violations of a real request/response pair (the validation proxy), prefixed like Prism's."""
    try:
        server = request.query_params().get("__server")
        match = engine.router.match(request.method, request.path, server[0] if server else None)
    except MockProblem:
        return [
            {"location": ["request"], "severity": "Warning", "message": "Selected route not found"}
        ]
    compiled = engine._compile(match.operation)
    path_params = {param_name(k): v for k, v in match.raw_path_params.items()}
    outcome = check_security(
        request, compiled.security, engine._schemes, path_params, engine.options.jwt
    )
    inputs = [
        *outcome.violations,
        *compiled.body.validate(request),
        *compiled.params.validate(request, path_params),
    ]
    lowered = {k.lower(): v for k, v in headers.items()}
    outputs = compiled.responses.check(status, lowered, body, has_body=request.method != "HEAD")
    return [_prefixed(v, "request") for v in inputs] + [_prefixed(v, "response") for v in outputs]


# CORS as Prism does it: permissive on every answer, and preflights answered before routing.


def cors_headers(request: MockRequest) -> tuple[tuple[str, str], ...]:
    """Echo the Origin (or `*`) and the requested headers, so any browser client may call."""
    headers = request.headers
    return (
        ("access-control-allow-origin", headers.get("origin") or "*"),
        ("access-control-allow-headers", headers.get("access-control-request-headers") or "*"),
        ("access-control-allow-credentials", "true"),
        ("access-control-expose-headers", headers.get("access-control-expose-headers") or "*"),
    )


def preflight(request: MockRequest) -> MockResponse | None:
    """The 204 for an OPTIONS preflight (Origin and Access-Control-Request-Method), else None."""
    method = request.headers.get("access-control-request-method")
    if request.method != "OPTIONS" or not request.headers.get("origin") or not method:
        return None
    return MockResponse(
        204,
        (
            *cors_headers(request),
            ("access-control-allow-methods", method),
            ("vary", "origin"),
            ("content-length", "0"),
        ),
    )
