"""A refused request value never reaches a log line or an error body (issue 18, item 1).

The service runs under uvicorn with logging left to the test, every logger at DEBUG, so the
capture sees what connexion, uvicorn and the service would write. Refused passwords, names and
addresses must appear nowhere in it, and no record may be longer than the bound.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from connexion import AsyncApp

from authsvc.security.redaction import MAX_LOG_MESSAGE_CHARS, install_log_redaction
from tests.support.contract_check import assert_documented
from tests.support.lifecycle import ACCEPT, CREATE, PATCH, accept_url, bearer, users_url
from tests.support.live_server import live_server

LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "connexion", "authsvc", "starlette")
# A cut record ends with "... [N chars cut]".
LONGEST_RECORD = MAX_LOG_MESSAGE_CHARS + 40


@pytest.fixture
def everything_logged(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
        # Another test's uvicorn may have configured its loggers not to propagate.
        monkeypatch.setattr(logging.getLogger(name), "propagate", True)
    return caplog


@pytest.fixture
def base_url(app: AsyncApp) -> Iterator[str]:
    with live_server(app, log_config=None, log_level="debug", access_log=True) as url:
        yield url


# (what is refused, operation, the request, the secret part of the value)
SECRET = "Sup3r-S3cret-Pass"
CASES: list[tuple[str, str, str, Any, str]] = [
    ("password-too-long", ACCEPT, "accept", {"password": SECRET + "x" * 200}, SECRET),
    ("password-in-a-list", ACCEPT, "accept", {"password": [SECRET]}, SECRET),
    ("password-an-object", ACCEPT, "accept", {"password": {"p": SECRET}}, SECRET),
    ("name-too-long", PATCH, "patch", {"first_name": "Ada-Lovelace-" + "n" * 200_000}, "Ada-Lovel"),
    ("name-not-a-string", PATCH, "patch", {"last_name": ["Byron-Family"]}, "Byron-Family"),
    ("email-malformed", PATCH, "patch", {"email": "ada.private@@example"}, "ada.private"),
    (
        "email-too-long",
        PATCH,
        "patch",
        {"email": "ada.private@" + "e" * 400 + ".com"},
        "ada.private",
    ),
    ("create-email-malformed", CREATE, "create", {"email": "grace.private@"}, "grace.private"),
]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_refused_values__in_no_log_line_and_no_error_body(
    everything_logged: pytest.LogCaptureFixture, base_url: str, demo: dict[str, Any]
) -> None:
    admin = bearer(demo["admin_token"])
    requests = {
        "accept": ("POST", accept_url("any-token"), {}),
        "patch": ("PATCH", users_url(demo["customer_id"], demo["active_user_id"]), admin),
        "create": ("POST", users_url(demo["customer_id"]), admin),
    }
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for case_id, operation, request, body, secret in CASES:
            method, path, headers = requests[request]
            if request == "create":
                body = {"first_name": "G", "last_name": "H", "subrole": {"id": "x"}, **body}
            response = client.request(method, path, json=body, headers=headers)
            assert response.status_code == 400, case_id
            assert assert_documented(response, operation)["errorCode"] == "VALIDATION_ERROR"
            assert secret not in response.text, case_id

    records = everything_logged.records
    assert any(r.name == "uvicorn.access" for r in records)  # uvicorn's lines were captured
    written = everything_logged.text
    for case_id, _op, _request, _body, secret in CASES:
        assert secret not in written, case_id
    for record in records:
        assert len(record.getMessage()) <= LONGEST_RECORD, record.name
    # Each refusal is still logged: where, and which rule.
    refusals = [r.getMessage() for r in records if r.name == "authsvc.validation"]
    assert "request body refused: /password (maxLength)" in refusals
    assert "request body refused: /email (pattern)" in refusals


def test_log_records__bounded_whoever_writes_them(everything_logged: Any) -> None:
    caplog: pytest.LogCaptureFixture = everything_logged
    install_log_redaction()
    huge = "v" * 2_000_000
    logging.getLogger("some.library").info(f"Validation error: {huge}")
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "GET", "/" + huge, "1.1", 200
    )
    try:
        raise ValueError(huge)
    except ValueError:
        logging.getLogger("some.library").exception("failed")
    for record in caplog.records:
        assert len(record.getMessage()) <= LONGEST_RECORD
        assert len(record.exc_text or "") <= LONGEST_RECORD
    # The access record keeps its shape: uvicorn's formatter unpacks five arguments.
    [access] = [r for r in caplog.records if r.name == "uvicorn.access"]
    assert len(access.args or ()) == 5
    assert len(caplog.text) < 4 * LONGEST_RECORD
