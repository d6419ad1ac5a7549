"""Check a request against the operation's security requirements, as Prism does.

Requirements are alternatives (any one may pass); the schemes inside one requirement must all
pass. A failure is one 401 violation whose tags (`Bearer`, `Basic realm="*"`) become the
`WWW-Authenticate` header when the mock has to invent the 401 itself. With a `BearerCheck` (the
adapters' `authsvc.mock.serve.jwt.JwtCheck`, `--verify-jwt`), a bearer token is also checked
beyond its form: 401 or 403 as that check decides.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from authsvc.mock.engine.model import BearerCheck, MockRequest, Violation

_BEARER = re.compile(r"Bearer\s.+")
_BASIC_TAG = 'Basic realm="*"'
_DIGEST_TAG = 'Digest realm="*", nonce="abc123"'
_BEARER_TAGS = {"bearer": "Bearer", "oauth2": "OAuth2", "openIdConnect": "OpenID"}


@dataclass(frozen=True)
class SecurityOutcome:
    """No violations means the request may proceed; `status` is 401 or 403 otherwise."""

    violations: tuple[Violation, ...] = ()
    tags: tuple[str, ...] = ()
    status: int | None = None


@dataclass
class _Failure:
    status: int
    message: str
    tags: list[str] = field(default_factory=list)
    severity: str = "Error"


def check_security(
    request: MockRequest,
    requirements: Sequence[Mapping[str, Any]],
    schemes: Mapping[str, Any],
    path_params: Mapping[str, str],
    verifier: BearerCheck | None = None,
) -> SecurityOutcome:
    """Pass if any requirement passes; otherwise the first failure, tagged with every scheme's."""
    if not requirements:
        return SecurityOutcome()
    failures: list[_Failure] = []
    for requirement in requirements:
        failure = _check_requirement(request, requirement, schemes, path_params, verifier)
        if failure is None:
            return SecurityOutcome()
        failures.append(failure)
    first = next((f for f in failures if f.status == 403), failures[0])
    tags = tuple(tag for f in failures for tag in f.tags)
    # Prism's warning for a scheme it does not check (mutualTLS, ...) carries no code.
    code = first.status if first.severity == "Error" else None
    violation = Violation((), code, first.message, first.severity)
    if first.severity != "Error":
        return SecurityOutcome((violation,), tags, None)
    return SecurityOutcome((violation,), tags, first.status)


def _check_requirement(
    request: MockRequest,
    requirement: Mapping[str, Any],
    schemes: Mapping[str, Any],
    path_params: Mapping[str, str],
    verifier: BearerCheck | None,
) -> _Failure | None:
    if not requirement:
        # Prism reads an empty requirement `{}` as "anonymous": it passes only without credentials.
        if "authorization" in request.headers:
            return _Failure(401, "Invalid security scheme used", ["None"])
        return None
    for name in requirement:
        failure = _check_scheme(request, schemes.get(name) or {}, path_params, verifier)
        if failure is not None:
            return failure
    return None


def _check_scheme(
    request: MockRequest,
    scheme: Mapping[str, Any],
    path_params: Mapping[str, str],
    verifier: BearerCheck | None,
) -> _Failure | None:
    kind = scheme.get("type")
    headers = request.headers
    authorization = headers.get("authorization", "")
    if kind == "apiKey":
        name = str(scheme.get("name", ""))
        where = scheme.get("in")
        if where == "header":
            present = bool(headers.get(name.lower()))
        elif where == "query":
            present = any(request.query_params().get(name) or ())
        elif where == "cookie":
            present = bool(re.search(re.escape(name) + "=.+", headers.get("cookie", "")))
        else:
            return _unsupported(f"apiKey/{where}")
        return None if present else _Failure(401, "Invalid security scheme used")
    sub = str(scheme.get("scheme", "")).lower() if kind == "http" else None
    if kind in ("oauth2", "openIdConnect") or sub == "bearer":
        tag = _BEARER_TAGS[str(kind) if kind != "http" else "bearer"]
        if not _BEARER.fullmatch(authorization):
            return _Failure(401, "Invalid security scheme used", [tag])
        if verifier is None:
            return None
        refused = verifier.failure(authorization.split(None, 1)[1], path_params)
        if refused is not None:
            status, message = refused
            return _Failure(status, message, [tag] if status == 401 else [])
        return None
    if sub == "basic":
        return _check_basic(authorization)
    if sub == "digest":
        return _check_digest(authorization)
    return _unsupported(f"http/{sub}" if kind == "http" else str(kind))


def _check_basic(authorization: str) -> _Failure | None:
    if not authorization:
        return _Failure(401, "Invalid security scheme used", [_BASIC_TAG])
    parts = authorization.split(" ")
    if parts[0].lower() != "basic":
        return _Failure(401, "Invalid security scheme used", [_BASIC_TAG])
    token = parts[1] if len(parts) > 1 else ""
    try:
        decoded = base64.b64decode(token + "=" * (-len(token) % 4)).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        decoded = ""
    if not token or len(decoded.split(":")) != 2:
        return _Failure(401, "Invalid security scheme used")
    return None


def _check_digest(authorization: str) -> _Failure | None:
    if not authorization:
        return _Failure(401, "Invalid security scheme used", [_DIGEST_TAG])
    scheme, *info = authorization.split(" ")
    if scheme.lower() != "digest":
        return _Failure(401, "Invalid security scheme used", [_DIGEST_TAG])
    joined = "".join(info)
    needed = ("username=", "realm=", "nonce=", "uri=", "response=")
    quoted = all(re.search(r"['\"][a-z0-9]*['\"]", p) for p in info)
    if not info or not all(n in joined for n in needed) or not quoted:
        return _Failure(401, "Invalid security scheme used")
    return None


def _unsupported(what: str) -> _Failure:
    # Prism lets these through with a warning rather than refusing every request.
    return _Failure(
        401, f"We currently do not support this type of security scheme: {what}", [], "Warning"
    )
