"""Render every error the service can raise as the envelope the contract documents.

Connexion answers its own errors (validation, security, routing, response validation) with
`application/problem+json`, which the contract does not document. `install_error_handlers` maps
each of them, and any unhandled exception, onto the tree in `authsvc.errors`; only fixed messages reach
the response, so no stack trace, token or address can leak.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import traceback
from collections.abc import Iterable
from typing import Any

from connexion import AsyncApp
from connexion.exceptions import (
    BadRequestProblem,
    ClientProblem,
    ExtraParameterProblem,
    NonConformingResponse,
    OAuthProblem,
    OAuthResponseProblem,
    OAuthScopeProblem,
    ProblemException,
    UnsupportedMediaTypeProblem,
)
from connexion.exceptions import Forbidden as ConnexionForbidden
from connexion.exceptions import Unauthorized as ConnexionUnauthorized
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from starlette.exceptions import HTTPException
from starlette.responses import Response

from authsvc.contract import Contract
from authsvc.errors import (
    AuthServiceError,
    Forbidden,
    InternalError,
    MethodNotAllowed,
    NotFound,
    RequestValidationError,
    Unauthorized,
)

logger = logging.getLogger("authsvc.errors")
JSON = "application/json"


def envelope(error: AuthServiceError) -> bytes:
    """The documented body of `error`, serialised."""
    return json.dumps(error.body(), separators=(",", ":")).encode()


def render(error: AuthServiceError) -> Response:
    """One documented envelope, as `application/json` (for code that answers outside Connexion)."""
    return Response(
        envelope(error), status_code=error.status, headers=error.headers(), media_type=JSON
    )


def translate(exc: BaseException) -> AuthServiceError:
    """Map any exception to the documented error a client should see."""
    if isinstance(exc, AuthServiceError):
        return exc
    if isinstance(exc, OAuthProblem | OAuthResponseProblem | ConnexionUnauthorized):
        return Unauthorized()
    if isinstance(exc, OAuthScopeProblem | ConnexionForbidden):
        return Forbidden()
    if isinstance(exc, NonConformingResponse):
        return InternalError()
    if isinstance(exc, BadRequestProblem | ExtraParameterProblem | UnsupportedMediaTypeProblem):
        return RequestValidationError()
    if isinstance(exc, UnicodeDecodeError):  # a body that is not UTF-8, as Connexion decodes it
        return RequestValidationError()
    if isinstance(exc, HTTPException):
        return _from_status(exc.status_code, (exc.headers or {}).get("Allow", ""))
    if isinstance(exc, ProblemException | ClientProblem):
        return _from_status(int(getattr(exc, "status", 500) or 500), "")
    return InternalError()


def _from_status(status: int, allow: str) -> AuthServiceError:
    if status == 404:
        return NotFound()
    if status == 405:
        return MethodNotAllowed(allow=allow)
    if status == 401:
        return Unauthorized()
    if status == 403:
        return Forbidden()
    if 400 <= status < 500:
        # Any other client error (406, 413, 415, ...) is a malformed request in the contract's terms.
        return RequestValidationError()
    return InternalError()


Routes = list[tuple[re.Pattern[str], set[str]]]


def documented_methods(contracts: Iterable[Contract]) -> Routes:
    """(full-path pattern, methods) per documented path: the contract's methods, nothing added.

    Connexion adds one route per operation, and Starlette's 405 names the methods of the first
    route whose path matches only: a path with GET and POST would announce `Allow: GET, HEAD`.
    HEAD is not among them unless the contract has a `head` operation (`asgi_guards`).
    """
    paths: dict[str, set[str]] = {}
    for contract in contracts:
        for operation in contract.operations():
            template = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(operation.path))
            methods = paths.setdefault(f"^{re.escape(contract.base_path)}{template}$", set())
            methods.add(operation.method.upper())
    return [(re.compile(pattern), methods) for pattern, methods in paths.items()]


def allowed_methods(routes: Routes, path: str) -> set[str]:
    """The documented methods of `path` (empty if the contract does not have it)."""
    return {m for pattern, methods in routes if pattern.match(path) for m in methods}


def _handle(
    request: ConnexionRequest,
    exc: Exception,
    routes: Routes | None = None,
) -> ConnexionResponse:
    error = translate(exc)
    if isinstance(error, MethodNotAllowed) and routes:
        allowed = allowed_methods(routes, request.url.path)
        if allowed:
            error = MethodNotAllowed(allow=", ".join(sorted(allowed)))
    if isinstance(error, InternalError):
        # Log the type and where, with the stack but never str(exc): driver errors echo bound
        # parameters (a password hash, a token digest) in their message. The handler runs after
        # the `except` has ended, so `exc_info=True` would find nothing to print.
        logger.error(
            "unhandled %s on %s %s%s",
            type(exc).__name__,
            request.method,
            request.url.path,
            _stack(exc),
        )
    if isinstance(exc, NonConformingResponse):
        logger.error("response did not conform to the contract: %s", exc.detail)
    return ConnexionResponse(
        status_code=error.status,
        body=envelope(error),
        headers=error.headers(),
        content_type=JSON,
    )


def install_error_handlers(app: AsyncApp, contracts: Iterable[Contract] = ()) -> None:
    """Route Connexion's, Starlette's and our own exceptions through the contract envelopes.

    `contracts` (those the app serves) name the methods a 405's `Allow` lists.
    """
    handle = functools.partial(_handle, routes=documented_methods(contracts))
    handled: tuple[Any, ...] = (AuthServiceError, ProblemException, HTTPException, Exception)
    for exc_type in handled:
        app.add_error_handler(exc_type, handle)


def _stack(exc: Exception) -> str:
    """The frames that raised `exc` (file, line, code), without the exception's message."""
    if isinstance(exc, AuthServiceError | NonConformingResponse) or exc.__traceback__ is None:
        return ""
    return "\n" + "".join(traceback.format_tb(exc.__traceback__)).rstrip()
