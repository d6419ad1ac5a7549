"""The engine where it goes beyond, or deliberately differs from, Prism (parity: test_differential)."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from authsvc.contract import Contract
from authsvc.mock import MockEngine, MockOptions, MockRequest
from authsvc.mock.serve.jwt import JwtCheck
from tests.mock.corpus import BEARER, CASES, DYNAMIC_CASES, RESEND, Case

C = "3fa85f64-5717-4562-b3fc-2c963f66afa6"


def _ask(engine: MockEngine, method: str, path: str, headers: dict[str, str] | None = None,
         body: bytes = b"") -> Any:  # fmt: skip
    path, _, query = path.partition("?")
    return engine.handle(
        MockRequest.build(method, path, query=query, headers=headers or {}, body=body)
    )


@pytest.mark.parametrize(
    ("contract", "method", "path", "headers", "body", "status", "detail"),
    [
        ("seed.yaml", "POST", RESEND, {**BEARER, "Prefer": "code=400, example=x"}, b"", 404, "exampleKey: x"),
        ("seed.yaml", "POST", RESEND, {**BEARER, "Prefer": "code=400", "Accept": "text/plain"}, b"", 406, "text/plain"),
        ("seed.yaml", "POST", RESEND, {**BEARER, "Content-Type": "application/json"}, b"{oops", 400, None),
        ("library-31.yaml", "POST", "/books", {**BEARER, "Content-Type": "application/json"}, b'{"title":"D","position":[1,"a"],"x":1}', 400, None),
        ("library-31.yaml", "POST", "/books", {**BEARER, "Content-Type": "application/json"}, b'{"title":"D","position":[1,"a"]}', 201, None),
        ("seed.yaml", "POST", RESEND, {**BEARER, "Prefer": "delay=abc"}, b"", 422, "delay"),
    ],
    ids=["unknown-example-with-code-is-404", "accept-with-code-is-406", "malformed-json-is-a-violation",
         "unevaluated-properties-enforced", "prefix-items-tuple-accepted", "malformed-delay-is-422"],
)  # fmt: skip
def test_engine__deliberate_differences(
    contracts: dict[str, Contract], contract: str, method: str, path: str,
    headers: dict[str, str], body: bytes, status: int, detail: str | None,
) -> None:  # fmt: skip
    response = _ask(MockEngine(contracts[contract]), method, path, headers, body)
    assert response.status == status
    if detail is not None:
        assert detail in response.json()["detail"]


def test_engine__malformed_json_is_reported_in_sl_violations(
    contracts: dict[str, Contract],
) -> None:
    response = _ask(MockEngine(contracts["petstore-30.yaml"]), "POST", "/pets",
                    {"Authorization": "Basic eDp5", "Content-Type": "application/json"}, b"{oops")  # fmt: skip
    violations = json.loads(response.header("sl-violations"))
    assert response.status == 422
    assert violations[0]["code"] == "json"


@pytest.mark.parametrize(
    ("options", "prefer", "expected_ms"),
    [(MockOptions(), None, 0), (MockOptions(delay_ms=250), None, 250), (MockOptions(delay_ms=250), "delay=40", 40)],
    ids=["none", "server-wide", "per-request-wins"],
)  # fmt: skip
def test_engine__delay(
    contracts: dict[str, Contract], options: MockOptions, prefer: str | None, expected_ms: int
) -> None:
    headers = {**BEARER, **({"Prefer": prefer} if prefer else {})}
    assert (
        _ask(MockEngine(contracts["seed.yaml"], options), "POST", RESEND, headers).delay_ms
        == expected_ms
    )


def test_engine__no_cors_sends_no_cors_headers(contracts: dict[str, Contract]) -> None:
    engine = MockEngine(contracts["seed.yaml"], MockOptions(cors=False))
    response = _ask(engine, "POST", RESEND, {**BEARER, "Origin": "http://a.test"})
    assert response.header("access-control-allow-origin") is None


@pytest.mark.parametrize("name", ["seed.yaml", "petstore-30.yaml", "library-31.yaml"], ids=str)
def test_engine__dynamic_is_valid_and_repeatable_with_a_seed(
    contracts: dict[str, Contract], name: str
) -> None:
    engine = MockEngine(contracts[name], MockOptions(dynamic=True, seed="7"))
    headers = {
        "Authorization": "Bearer t",
        "X-API-Key": "k",
        "X-Request-Id": "r",
        "Cookie": "session=1",
    }
    for route in engine.router.routes:
        op = route.operation
        if op.method != "get" or "{" in op.path:
            continue
        path = op.path + ("?q=dune&api_key=1" if op.path in ("/books", "/store/inventory") else "")
        first, second = _ask(engine, "GET", path, headers), _ask(engine, "GET", path, headers)
        assert first.body == second.body
        assert first.header("sl-violations") is None, first.header("sl-violations")


def test_engine__errors_flag_turns_a_bad_example_into_500(contracts: dict[str, Contract]) -> None:
    raw = json.loads(json.dumps(contracts["seed.yaml"].raw))
    op = raw["paths"]["/customers/{customerID}/users/{userID}/resend-invite"]["post"]
    op["responses"]["200"]["content"]["application/json"]["example"] = {"status": 1}
    from authsvc.contract import load_contract

    engine = MockEngine(load_contract(raw), MockOptions(errors=True))
    response = _ask(engine, "POST", RESEND, BEARER)
    assert response.status == 500
    assert response.json()["validation"][0]["location"] == ["response", "body", "status"]


@pytest.fixture(scope="module")
def signer() -> tuple[ec.EllipticCurvePrivateKey, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return key, pem


@pytest.mark.parametrize(
    ("claims", "status"),
    [
        ({"customer_id": C, "exp": 4_000_000_000}, 200),
        ({"customer_id": C, "exp": 1}, 401),
        ({"customer_id": "other", "exp": 4_000_000_000}, 403),
        ({"customer_id": "other", "platform_admin": True, "exp": 4_000_000_000}, 200),
        ({"customer_id": C, "exp": 4_000_000_000, "iss": "someone-else"}, 401),
    ],
    ids=["valid", "expired", "other-customer", "platform-admin", "wrong-issuer"],
)
def test_engine__verify_jwt(
    contracts: dict[str, Contract],
    signer: tuple[Any, str],
    claims: dict[str, Any],
    status: int,
    tmp_path: Path,
) -> None:
    key, pem = signer
    (tmp_path / "key.pem").write_text(pem)
    verifier = JwtCheck.build(
        public_key_file=tmp_path / "key.pem", issuer="authsvc" if "iss" in claims else None
    )
    engine = MockEngine(contracts["seed.yaml"], MockOptions(jwt=verifier))
    token = jwt.encode({"iat": int(time.time()), **claims}, key, algorithm="ES256")
    response = _ask(engine, "POST", RESEND, {"Authorization": f"Bearer {token}"})
    assert response.status == status


def _case(engine: MockEngine, case: Case) -> Any:
    _id, _contract, method, path, headers, body = case
    return _ask(engine, method, path, headers, body or b"")


def _seen(response: Any) -> tuple[Any, ...]:
    return response.status, response.headers, response.body, response.delay_ms, response.violations


@pytest.mark.parametrize("options", [MockOptions(), MockOptions(dynamic=True, seed="3")],
                         ids=["static", "dynamic-seeded"])  # fmt: skip
def test_engine__remembered_answers_equal_fresh_ones(
    contracts: dict[str, Contract], options: MockOptions
) -> None:
    """An engine that has answered everything (twice, shuffled) answers as a new one does."""
    cases = [*CASES, *DYNAMIC_CASES]
    warm = {name: MockEngine(contract, options) for name, contract in contracts.items()}
    for case in random.Random(5).sample(cases * 2, len(cases) * 2):
        _case(warm[case[1]], case)
    for case in cases:
        fresh = [_case(MockEngine(contracts[case[1]], options), case) for _ in range(2)]
        answer = _case(warm[case[1]], case)
        if _seen(fresh[0]) == _seen(fresh[1]):
            assert _seen(answer) == _seen(fresh[0]), case[0]
        else:  # a body generated without a seed: random by design, so only its status is fixed
            assert answer.status == fresh[0].status, case[0]


def test_engine__dynamic_without_a_seed_stays_random(contracts: dict[str, Contract]) -> None:
    engine = MockEngine(contracts["seed.yaml"], MockOptions(dynamic=True))
    bodies = {_ask(engine, "POST", RESEND, BEARER).body for _ in range(5)}
    assert len(bodies) > 1
    seeded = {_ask(engine, "POST", RESEND, {**BEARER, "Prefer": "seed=4"}).body for _ in range(3)}
    assert len(seeded) == 1


def test_engine__remembered_answers_are_bounded(contracts: dict[str, Contract]) -> None:
    engine = MockEngine(contracts["seed.yaml"])
    for n in range(600):  # every Accept header is a new key
        response = _ask(engine, "POST", RESEND, {**BEARER, "Accept": f"application/json;v={n}"})
        assert response.status == 200
    compiled = list(engine._compiled.values())
    assert compiled
    assert all(len(c.answers) <= 256 and len(c.negotiated) <= 256 for c in compiled)


def test_engine__dynamic_mode_serves_the_example_of_a_response_without_schema(
    contracts: dict[str, Contract],
) -> None:
    # Prism 5.14 answers 500 "schema is not defined" (docs/mock.md, deliberate differences).
    engine = MockEngine(contracts["mock-dynamic-example.yaml"], MockOptions(dynamic=True))
    response = _ask(engine, "GET", "/greeting")
    assert (response.status, response.header("content-type")) == (200, "application/json")
    assert response.json() == {"text": "hello"}


@pytest.mark.parametrize("depth", [257, 900, 1000, 100_000])
@pytest.mark.parametrize("shape", ["array", "object"])
def test_engine__deeply_nested_json_body_is_a_json_violation(
    contracts: dict[str, Contract], depth: int, shape: str
) -> None:
    body = "[" * depth + "]" * depth if shape == "array" else '{"a":' * depth + "1" + "}" * depth
    engine = MockEngine(contracts["mock-dynamic-example.yaml"])
    response = _ask(engine, "POST", "/echo", {"Content-Type": "application/json"}, body.encode())
    assert response.status == 400  # the contract's own answer for a bad body
    assert response.json() == {"error": "bad body"}
    [violation] = json.loads(response.header("sl-violations"))
    assert (violation["location"], violation["code"]) == (["request", "body"], "json")
    assert "nested deeper than 256 levels" in violation["message"]


def test_engine__json_nested_256_levels_is_still_validated(contracts: dict[str, Contract]) -> None:
    body = ('{"a":' * 256 + "1" + "}" * 256).encode()
    engine = MockEngine(contracts["mock-dynamic-example.yaml"])
    response = _ask(engine, "POST", "/echo", {"Content-Type": "application/json"}, body)
    assert response.status == 200
    assert response.header("sl-violations") is None


@pytest.mark.parametrize(
    ("query", "status"),
    [("?type=", 422), ("", 422), ("?type=a,b", 200), ("?type=a", 200)],
    ids=["empty-is-missing", "absent", "two-items", "one-item"],
)
def test_engine__empty_non_exploded_array_is_a_missing_parameter(
    contracts: dict[str, Contract], query: str, status: int
) -> None:
    response = _ask(MockEngine(contracts["mock-routing.yaml"]), "GET", "/items" + query)
    assert response.status == status
    if status == 422:
        [item] = response.json()["validation"]
        assert (item["location"], item["code"]) == (["query"], "required")
