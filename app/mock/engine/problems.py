"""Problems the mock answers with itself, in Prism's `application/problem+json` shape.

    MockProblem               a response the engine invents (type, title, status, detail)
    ├── from routing          NO_PATH_MATCHED_ERROR, NO_METHOD_MATCHED_ERROR, NO_SERVER_...
    ├── from preferences      UNPROCESSABLE_ENTITY (malformed Prefer)
    ├── from negotiation      NOT_ACCEPTABLE, NOT_FOUND (code/example), NO_RESPONSE_DEFINED
    └── from a bad request    UNAUTHORIZED, FORBIDDEN, INVALID_CONTENT_TYPE, UNPROCESSABLE_ENTITY

Clients match on `type`, so the URIs and titles are Prism's, verbatim.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PROBLEM_BASE = "https://stoplight.io/prism/errors#"
PROBLEM_MEDIA_TYPE = "application/problem+json"


@dataclass(frozen=True)
class ProblemTemplate:
    type: str
    title: str
    status: int


NO_PATH_MATCHED = ProblemTemplate(
    "NO_PATH_MATCHED_ERROR", "Route not resolved, no path matched", 404
)
NO_METHOD_MATCHED = ProblemTemplate(
    "NO_METHOD_MATCHED_ERROR", "Route resolved, but no method matched", 405
)
NO_SERVER_MATCHED = ProblemTemplate(
    "NO_SERVER_MATCHED_ERROR", "Route not resolved, no server matched", 404
)
NO_SERVER_CONFIGURATION = ProblemTemplate(
    "NO_SERVER_CONFIGURATION_PROVIDED_ERROR",
    "Route not resolved, no server configuration provided",
    404,
)
UNPROCESSABLE_ENTITY = ProblemTemplate("UNPROCESSABLE_ENTITY", "Invalid request", 422)
NOT_ACCEPTABLE = ProblemTemplate(
    "NOT_ACCEPTABLE", "The server cannot produce a representation for your accept header", 406
)
NOT_FOUND = ProblemTemplate("NOT_FOUND", "The server cannot find the requested content", 404)
NO_RESPONSE_DEFINED = ProblemTemplate(
    "NO_RESPONSE_RESPONSE_DEFINED", "No response defined for the selected operation", 500
)
UNAUTHORIZED = ProblemTemplate("UNAUTHORIZED", "Invalid security scheme used", 401)
FORBIDDEN = ProblemTemplate("FORBIDDEN", "The token does not grant access to this resource", 403)
INVALID_CONTENT_TYPE = ProblemTemplate("INVALID_CONTENT_TYPE", "Invalid content type", 415)
VIOLATIONS = ProblemTemplate("VIOLATIONS", "Request/Response not valid", 500)
NO_COMPLEX_OBJECT_TEXT = ProblemTemplate(
    "NO_COMPLEX_OBJECT_TEXT", "Cannot serialise complex objects as text", 500
)
UPSTREAM_UNREACHABLE = ProblemTemplate("UPSTREAM_UNREACHABLE", "The upstream did not answer", 502)


@dataclass
class MockProblem(Exception):
    """An answer the mock invents because the contract has none to give."""

    template: ProblemTemplate
    detail: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    # Prism repeats its invented 401's WWW-Authenticate inside the body; clients may read it there.
    headers_in_body: bool = False

    def __post_init__(self) -> None:
        super().__init__(f"{self.template.type}: {self.detail}")

    @property
    def status(self) -> int:
        return self.template.status

    def body(self) -> bytes:
        """The problem+json document; extra members (e.g. `validation`) follow Prism's four."""
        document: dict[str, Any] = {
            "type": PROBLEM_BASE + self.template.type,
            "title": self.template.title,
            "status": self.template.status,
            "detail": self.detail,
            **self.extra,
        }
        if self.headers and self.headers_in_body:
            document["headers"] = dict(self.headers)
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
