"""`authsvc.web.http_errors`: what an unhandled error leaves in the log and in the answer."""

from __future__ import annotations

import json
import logging

import pytest
from connexion.lifecycle import ConnexionRequest
from sqlalchemy.exc import OperationalError

from authsvc.web.http_errors import _handle

SECRET = "argon2id$v=19$m=65536,t=3,p=4$c2VjcmV0LWhhc2g"


def _request() -> ConnexionRequest:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/auth/api/v1/customer/sign-in",
        "raw_path": b"/auth/api/v1/customer/sign-in",
        "query_string": b"",
        "headers": [],
    }
    return ConnexionRequest(scope)


def _raise_driver_error() -> None:
    # Drivers quote the statement and its bound parameters in the message.
    raise OperationalError("UPDATE users SET password_hash=%(h)s", {"h": SECRET}, Exception("down"))


def test_unhandled_error__log_has_type_route_and_stack_never_the_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="authsvc.errors")
    try:
        _raise_driver_error()
    except OperationalError as exc:
        error = exc
    response = _handle(_request(), error)

    assert response.status_code == 500
    assert json.loads(response.body) == {
        "message": "Internal Server Error",
        "errorCode": "ERR_INTERNAL_SERVER",
    }
    [record] = caplog.records
    text = caplog.text
    assert "unhandled OperationalError on POST /auth/api/v1/customer/sign-in" in record.getMessage()
    assert "_raise_driver_error" in text  # the frame that raised it
    assert SECRET not in text
    assert "NoneType: None" not in text
