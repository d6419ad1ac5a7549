"""CORS over plain HTTP against a live `authsvc serve`: preflights, grants, and the error answers.

A page on an allowed origin must see every answer, errors included, or it reports "Failed to
fetch" for a 401 or a 503; a page on any other origin must get no grant. The HTTP server's own
refusals (connection cap, oversized head, slow head) are checked over raw sockets.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.reliability.support import resend_path
from tests.reliability.test_hostile_http import (
    Service,
    assert_envelope,
    exchange,
    read_answer,
    serve,
)

ORIGIN = "http://app.example.test:3000"
OTHER = "https://evil.example.test"
MAX_CONNECTIONS = 6
SETTINGS = {
    "AUTHSVC_CORS_ORIGINS": f"{ORIGIN}, https://second.example.test",
    "AUTHSVC_RESEND_LIMIT": "1",
    "AUTHSVC_HTTP_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
    "AUTHSVC_HTTP_HEADER_TIMEOUT_SECONDS": "1.0",
    "AUTHSVC_OUTBOX_POLL_SECONDS": "0.2",
}
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
USERS = "/auth/api/v1/customers/{c}/users"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with serve(tmp_path_factory.mktemp("cors"), SETTINGS) as live:
        yield live


def _url(service: Service, path: str) -> str:
    return f"http://127.0.0.1:{service.port}" + path.format(c=service.demo["customer_id"])


def _granted(headers: httpx.Headers | dict[str, str], origin: str = ORIGIN) -> None:
    assert headers["access-control-allow-origin"] == origin
    assert headers["access-control-allow-credentials"] == "true"
    exposed = {h.strip().lower() for h in headers["access-control-expose-headers"].split(",")}
    assert {"retry-after", "x-request-id"} <= exposed
    assert "origin" in headers["vary"].lower()
    assert REQUEST_ID.match(headers["x-request-id"])


@pytest.mark.parametrize("method", ["GET", "POST", "PATCH"])
def test_preflight__allowed_origin__granted_before_authentication(
    service: Service, method: str
) -> None:
    response = httpx.options(
        _url(service, USERS),
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert method in response.headers["access-control-allow-methods"]
    allowed = {
        h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")
    }
    assert {"authorization", "content-type", "x-request-id"} <= allowed
    assert int(response.headers["access-control-max-age"]) > 0
    assert "www-authenticate" not in response.headers  # no token was asked for
    assert REQUEST_ID.match(response.headers["x-request-id"])


@pytest.mark.parametrize(
    ("origin", "method", "requested"),
    [
        (OTHER, "POST", "authorization"),
        ("http://app.example.test:3001", "POST", "authorization"),  # another port, another origin
        ("null", "POST", "authorization"),
        (ORIGIN, "DELETE", "authorization"),  # a method the contract does not use
        (ORIGIN, "POST", "authorization, x-secret"),  # a header the service does not take
    ],
    ids=["other-origin", "other-port", "null-origin", "other-method", "other-header"],
)
def test_preflight__anything_else__no_grant(
    service: Service, origin: str, method: str, requested: str
) -> None:
    response = httpx.options(
        _url(service, USERS),
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": requested,
        },
    )
    assert response.status_code == 204
    assert not [h for h in response.headers if h.startswith("access-control-allow")]


def test_answers__allowed_origin__every_status_readable(service: Service) -> None:
    demo = service.demo
    admin = {"Authorization": f"Bearer {demo['admin_token']}", "Origin": ORIGIN}
    resend = _url(service, resend_path(demo["customer_id"], demo["invited_user_id"]))
    answers = {
        "200": httpx.get(_url(service, USERS), headers=admin),
        "401": httpx.get(_url(service, USERS), headers={"Origin": ORIGIN}),
        "member-reads": httpx.get(
            _url(service, USERS),
            headers={"Authorization": f"Bearer {demo['member_token']}", "Origin": ORIGIN},
        ),
        "403": httpx.post(
            resend, headers={"Authorization": f"Bearer {demo['member_token']}", "Origin": ORIGIN}
        ),
        "404": httpx.get(_url(service, "/auth/api/v1/nowhere"), headers=admin),
        "first-resend": httpx.post(resend, headers=admin),
        "429": httpx.post(resend, headers=admin),
    }
    statuses = {name: r.status_code for name, r in answers.items()}
    assert statuses == {
        "200": 200,
        "401": 401,
        "member-reads": 200,  # a member may read the users (cro: users:read)
        "403": 403,
        "404": 404,
        "first-resend": 200,
        "429": 429,
    }
    for response in answers.values():
        _granted(response.headers)
    assert int(answers["429"].headers["retry-after"]) >= 1


def test_answers__other_origin__no_grant(service: Service) -> None:
    response = httpx.get(_url(service, USERS), headers={"Origin": OTHER})
    assert response.status_code == 401
    assert "access-control-allow-origin" not in response.headers
    assert response.headers["vary"] == "Origin"


def test_request_guard_refusal__carries_cors_headers(service: Service) -> None:
    answer = exchange(
        service,
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nAuthorization: a\r\nAuthorization: b\r\n"
        b"Origin: " + ORIGIN.encode() + b"\r\nConnection: close\r\n\r\n",
    )
    assert answer.status == 400
    _granted(answer.headers)


def test_oversized_header__431_with_cors_headers(service: Service) -> None:
    answer = exchange(
        service,
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nOrigin: "
        + ORIGIN.encode()
        + b"\r\nX-Big: "
        + b"a" * 100_000
        + b"\r\n\r\n",
    )
    assert_envelope(answer, 431)
    _granted(answer.headers)


def test_slow_head__408_with_cors_headers(service: Service) -> None:
    with socket.create_connection(("127.0.0.1", service.port), timeout=5) as sock:
        # The head stops in the middle of a header after Origin (the parser hands a header
        # over once the next one begins).
        sock.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: t\r\nOrigin: " + ORIGIN.encode() + b"\r\nX-Pen"
        )
        answer = read_answer(sock, timeout=5)
    assert_envelope(answer, 408)
    _granted(answer.headers)


def test_connection_cap__503_with_cors_headers_for_the_allowed_origin(service: Service) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
    with ExitStack() as stack:
        held = [stack.enter_context(service.connect()) for _ in range(MAX_CONNECTIONS)]
        time.sleep(0.2)
        allowed = exchange(service, head + b"Origin: " + ORIGIN.encode() + b"\r\n\r\n")
        other = exchange(service, head + b"Origin: " + OTHER.encode() + b"\r\n\r\n")
        assert held
    assert_envelope(allowed, 503)
    _granted(allowed.headers)
    assert allowed.headers["retry-after"] == "1"
    assert_envelope(other, 503)
    assert "access-control-allow-origin" not in other.headers
    assert REQUEST_ID.match(other.headers["x-request-id"])


def test_default__no_origins__no_cors_header_and_preflight_not_405(tmp_path: Path) -> None:
    settings = {"AUTHSVC_OUTBOX_POLL_SECONDS": "0.2"}
    with serve(tmp_path, settings) as live:
        preflight = httpx.options(
            _url(live, USERS),
            headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"},
        )
        plain = httpx.get(_url(live, USERS), headers={"Origin": ORIGIN})
    assert preflight.status_code == 204
    for response in (preflight, plain):
        assert not [h for h in response.headers if h.startswith("access-control-")]
    assert "vary" not in plain.headers


def test_oversized_body__413_with_cors_headers(service: Service) -> None:
    answer = exchange(
        service,
        b"POST /auth/api/v1/invite/x/accept HTTP/1.1\r\nHost: t\r\nOrigin: "
        + ORIGIN.encode()
        + b"\r\nContent-Type: application/json\r\nContent-Length: 5000000\r\n\r\n{",
    )
    assert_envelope(answer, 413)
    _granted(answer.headers)
