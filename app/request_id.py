"""The request id: one name for one request in the answer, the logs and the audit trail.

A client (or a proxy in front) may send `X-Request-ID`; it is kept when well formed (1-128 of
`A-Z a-z 0-9 . _ -`, so it can never smuggle a line break or markup into a log or a header), and
replaced by a fresh random one otherwise. The id is echoed on every answer, logged with every line
written while the request runs, and stored with the audit event it causes. It lives in a context
variable: the database runner copies the context into the thread that runs the unit of work
(`authsvc.db.runner`), so the audit code reads it there without being handed it.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

HEADER = "X-Request-ID"
HEADER_BYTES = b"x-request-id"
MAX_LENGTH = 128
_WELL_FORMED = re.compile(rb"[A-Za-z0-9._-]{1,128}")

current: ContextVar[str | None] = ContextVar("authsvc_request_id", default=None)


def new_request_id() -> str:
    """A fresh id: 32 hex digits of a random UUID."""
    return uuid.uuid4().hex


def accept_or_generate(value: bytes | None) -> str:
    """The client's id when well formed, else a fresh one."""
    if value is not None and _WELL_FORMED.fullmatch(value):
        return value.decode("ascii")
    return new_request_id()


def from_headers(headers: list[tuple[bytes, bytes]] | tuple[tuple[bytes, bytes], ...]) -> str:
    """The id for a request with these (lower-cased) header pairs; the first `X-Request-ID` wins."""
    for name, value in headers:
        if name == HEADER_BYTES:
            return accept_or_generate(value)
    return new_request_id()
