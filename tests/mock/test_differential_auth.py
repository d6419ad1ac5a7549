"""Parity with the real Prism 5 on the Auth Service contract itself: every operation.

The machinery of tests/mock/test_differential.py (Prism and our mock started side by side on
loopback) on `openapi/auth-service.yaml`: for each operation, what a frontend does (a valid call,
each documented answer asked for with `Prefer`, a named example, no token, malformed IDs and
bodies, unknown query parameters), compared on status, media type, body (static mode) or
schema-validity of one status (dynamic mode), `sl-violations` and the client-visible headers.
Needs node and @stoplight/prism-cli (found via $AUTHSVC_TEST_PRISM_BIN, PATH or npx).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from authsvc.contract import default_contract_path, load_contract
from authsvc.mock.serve.server import MockApp
from tests.support.contract_check import operation_for, routes
from tests.support.mock_servers import require_prism, running_mock, running_prism

C = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
U = "3fa85f64-5717-4562-b3fc-2c963f66afa7"
TOKEN = "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5"
USERS = f"/customers/{C}/users"
USER = f"{USERS}/{U}"
SUBROLES = f"/customers/{C}/subroles"
ACCEPT = f"/invite/{TOKEN}/accept"
BEARER = {"Authorization": "Bearer token"}
JSON = {"Content-Type": "application/json"}
AUTH_JSON = {**BEARER, **JSON}
SUBROLE = {"id": "cececa89-aa54-4433-8184-ec0598392811", "code": "risk_analyst", "label": "Risk"}
NEW_USER = json.dumps(
    {"first_name": "Dana", "last_name": "Analyst", "email": "dana@example.com", "subrole": SUBROLE}
).encode()

Case = tuple[str, str, str, dict[str, str], bytes | None]


def prefer(code: int, **extra: str) -> dict[str, str]:
    return {
        **BEARER,
        "Prefer": ", ".join([f"code={code}", *(f"{k}={v}" for k, v in extra.items())]),
    }


# fmt: off
CASES: list[Case] = [
    # GET /customers/{customerID}/users
    ("list-valid", "GET", USERS, BEARER, None),
    ("list-filters", "GET", USERS + "?page=2&items_per_page=5&status=INVITED&search=dana", BEARER, None),
    ("list-unknown-query", "GET", USERS + "?query=x", BEARER, None),
    ("list-page-zero", "GET", USERS + "?page=0", BEARER, None),
    ("list-bad-status", "GET", USERS + "?status=GONE", BEARER, None),
    ("list-no-auth", "GET", USERS, {}, None),
    ("list-bad-customer", "GET", "/customers/abc/users", BEARER, None),
    ("list-prefer-403", "GET", USERS, prefer(403), None),
    ("list-prefer-404", "GET", USERS, prefer(404), None),
    ("list-prefer-400", "GET", USERS, prefer(400), None),
    # POST /customers/{customerID}/users
    ("create-valid", "POST", USERS, AUTH_JSON, NEW_USER),
    ("create-missing-subrole", "POST", USERS, AUTH_JSON, b'{"first_name":"a","last_name":"b","email":"a@b.co"}'),
    ("create-extra-field", "POST", USERS, AUTH_JSON, NEW_USER[:-1] + b',"x":1}'),
    ("create-bad-email", "POST", USERS, AUTH_JSON, NEW_USER.replace(b"dana@example.com", b"dana")),
    ("create-no-body", "POST", USERS, BEARER, None),
    ("create-not-json", "POST", USERS, {**BEARER, "Content-Type": "text/plain"}, b"hello"),
    ("create-duplicate", "POST", USERS, {**prefer(400), **JSON}, NEW_USER),
    ("create-no-auth", "POST", USERS, JSON, NEW_USER),
    # GET /customers/{customerID}/users/{userID}
    ("get-valid", "GET", USER, BEARER, None),
    ("get-prefer-404", "GET", USER, prefer(404), None),
    ("get-bad-user", "GET", f"{USERS}/123", BEARER, None),
    ("get-no-auth", "GET", USER, {}, None),
    # PATCH /customers/{customerID}/users/{userID}
    ("patch-valid", "PATCH", USER, AUTH_JSON, b'{"status":"INACTIVE"}'),
    ("patch-empty", "PATCH", USER, AUTH_JSON, b"{}"),
    ("patch-invited-status", "PATCH", USER, AUTH_JSON, b'{"status":"INVITED"}'),
    ("patch-example-not-accepted", "PATCH", USER, {**prefer(400, example="invitation_not_accepted"), **JSON}, b'{"status":"ACTIVE"}'),
    ("patch-prefer-404", "PATCH", USER, {**prefer(404), **JSON}, b'{"first_name":"Z"}'),
    ("patch-bad-ids", "PATCH", "/customers/x/users/y", AUTH_JSON, b'{"first_name":"Z"}'),
    ("patch-wrong-type", "PATCH", USER, AUTH_JSON, b'{"first_name":5}'),
    # POST .../resend-invite (with the other operations on the same contract)
    ("resend-valid", "POST", f"{USER}/resend-invite", BEARER, None),
    ("resend-prefer-429", "POST", f"{USER}/resend-invite", prefer(429), None),
    # GET /customers/{customerID}/subroles
    ("subroles-valid", "GET", SUBROLES, BEARER, None),
    ("subroles-prefer-400", "GET", SUBROLES, prefer(400), None),
    ("subroles-no-auth", "GET", SUBROLES, {}, None),
    # POST /invite/{inviteToken}/accept (no security)
    ("accept-valid", "POST", ACCEPT, JSON, b'{"password":"Corr3ct-Horse!"}'),
    ("accept-no-body", "POST", ACCEPT, {}, None),
    ("accept-bad-token", "POST", "/invite/not%20a%20token/accept", JSON, b'{"password":"x"}'),
    ("accept-password-not-string", "POST", ACCEPT, JSON, b'{"password":5}'),
    ("accept-prefer-400", "POST", ACCEPT, {**JSON, "Prefer": "code=400"}, b'{"password":"x"}'),
    ("accept-example-invalid", "POST", ACCEPT, {**JSON, "Prefer": "code=400, example=invalid_invitation"}, b"{}"),
    ("accept-prefer-500", "POST", ACCEPT, {**JSON, "Prefer": "code=500"}, b"{}"),
    # POST /customer/sign-in, /refresh-token/customer (no security), /customer/logout (bearer)
    ("sign-in-valid", "POST", "/customer/sign-in", JSON, b'{"email":"ada@example.com","password":"Corr3ct-Horse!"}'),
    ("sign-in-no-password", "POST", "/customer/sign-in", JSON, b'{"email":"ada@example.com"}'),
    ("sign-in-prefer-400", "POST", "/customer/sign-in", {**JSON, "Prefer": "code=400"}, b'{"email":"a@example.com","password":"x"}'),
    ("refresh-valid", "POST", "/refresh-token/customer", JSON, b'{"refresh_token":"abc"}'),
    ("refresh-no-body", "POST", "/refresh-token/customer", {}, None),
    ("refresh-example-invalid", "POST", "/refresh-token/customer", {**JSON, "Prefer": "code=400, example=invalid_refresh_token"}, b"{}"),
    ("logout-valid", "POST", "/customer/logout", BEARER, None),
    ("logout-no-token", "POST", "/customer/logout", {}, None),
    ("logout-refresh-token-only", "POST", "/customer/logout", JSON, b'{"refresh_token":"abc"}'),
    ("logout-prefer-401", "POST", "/customer/logout", {**JSON, "Prefer": "code=401"}, b'{"refresh_token":"abc"}'),
    # POST /forgot-password, /reset-password (no security)
    ("forgot-valid", "POST", "/forgot-password", JSON, b'{"email":"ada@example.com"}'),
    ("forgot-no-email", "POST", "/forgot-password", JSON, b"{}"),
    ("reset-valid", "POST", "/reset-password", JSON, b'{"reset_token":"abc","password":"Corr3ct-Horse!"}'),
    ("reset-no-token", "POST", "/reset-password", JSON, b'{"password":"Corr3ct-Horse!"}'),
    ("reset-example-rules", "POST", "/reset-password", {**JSON, "Prefer": "code=400, example=password_rules"}, b'{"reset_token":"abc","password":"x"}'),
    # methods and paths around the new ones
    ("users-wrong-method", "DELETE", USERS, BEARER, None),
    ("user-wrong-method", "PUT", USER, AUTH_JSON, b"{}"),
    ("accept-wrong-method", "GET", ACCEPT, {}, None),
    ("cors-preflight", "OPTIONS", USERS, {"Origin": "https://app.example.test", "Access-Control-Request-Method": "POST"}, None),
]
DYNAMIC_CASES: list[Case] = [
    ("list-dynamic", "GET", USERS, {**BEARER, "Prefer": "dynamic=true, seed=3"}, None),
    ("get-dynamic", "GET", USER, {**BEARER, "Prefer": "dynamic=true, seed=4"}, None),
    ("create-dynamic", "POST", USERS, {**AUTH_JSON, "Prefer": "dynamic=true"}, NEW_USER),
    ("subroles-dynamic", "GET", SUBROLES, {**BEARER, "Prefer": "dynamic=true, seed=5"}, None),
    ("accept-dynamic", "POST", ACCEPT, {**JSON, "Prefer": "dynamic=true"}, b'{"password":"x"}'),
]
# fmt: on
# Where the mock deliberately differs from Prism on this contract (docs/mock.md): none yet.
KNOWN_DIFFERENCES: dict[str, str] = {}

CLIENT_HEADERS = (
    "www-authenticate",
    "access-control-allow-origin",
    "access-control-allow-headers",
    "access-control-allow-credentials",
    "access-control-expose-headers",
    "access-control-allow-methods",
    "allow",
    "vary",
    "retry-after",
)


@pytest.fixture(scope="module")
def bases() -> Iterator[tuple[str, str]]:
    """(Prism URL, mock URL), both serving the Auth Service contract."""
    command = require_prism()
    path = default_contract_path()
    with (
        running_prism(command, path) as prism,
        running_mock(MockApp(load_contract(path))) as mock,
    ):
        yield prism, mock


def observe(base: str, case: Case) -> tuple[int, str | None, Any, set[Any], dict[str, str]]:
    _id, method, path, headers, body = case
    response = httpx.request(method, base + path, headers=headers, content=body, timeout=10)
    media = response.headers.get("content-type")
    media = media.split(";")[0].strip().lower() if media else None
    try:
        parsed: Any = response.json() if response.content else None
    except ValueError:
        parsed = response.text
    violations = {
        (tuple(v["location"]), v.get("code"))
        for v in json.loads(response.headers.get("sl-violations", "[]"))
    }
    seen = {h: response.headers[h] for h in CLIENT_HEADERS if h in response.headers}
    return response.status_code, media, parsed, violations, seen


def test_differential_auth__the_corpus_covers_every_operation() -> None:
    contract = load_contract(default_contract_path())
    covered = set()
    for _id, method, path, _headers, _body in CASES:
        url_path = contract.base_path + httpx.URL(path).path
        if any(m == method and p.match(url_path) for m, p, _ in routes()):
            covered.add(operation_for(method, url_path).operation_id)
    assert covered == {op.operation_id for op in contract.operations()}


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_differential_auth__static_answer_matches_prism(bases: tuple[str, str], case: Case) -> None:
    prism_url, mock_url = bases
    ours, theirs = observe(mock_url, case), observe(prism_url, case)
    if case[0] in KNOWN_DIFFERENCES:
        assert ours != theirs, KNOWN_DIFFERENCES[case[0]]
        return
    if ours[0] == 405:  # docs/mock.md, difference 4: our 405 names the path's methods, Prism's none
        documented = {m for m, pattern, _ in routes() if pattern.match("/auth/api/v1" + case[2])}
        assert set(ours[4].pop("allow").split(", ")) == documented
    assert ours == theirs


@pytest.mark.parametrize("case", DYNAMIC_CASES, ids=[c[0] for c in DYNAMIC_CASES])
def test_differential_auth__dynamic_answer_is_valid_like_prisms(
    bases: tuple[str, str], case: Case
) -> None:
    prism_url, mock_url = bases
    ours, theirs = observe(mock_url, case), observe(prism_url, case)
    assert ours[:2] == theirs[:2]
    assert ours[3] == theirs[3]
    for base in (mock_url, prism_url):  # both check their own answers against the contract
        _id, method, path, headers, body = case
        response = httpx.request(method, base + path, headers=headers, content=body, timeout=10)
        assert "response" not in response.headers.get("sl-violations", ""), base
