"""Keep invite tokens out of the logs: they travel in the accept path, `/invite/{token}/accept`.

The access log (uvicorn) and the error log name the request path; both loggers get a filter that
replaces the token segment before any handler formats the record. Bearer tokens never reach a log
line in the first place (see authsvc.security.tokens).
"""

from __future__ import annotations

import logging
import re

_INVITE_SEGMENT = re.compile(r"/invite/[^/\s\"'?#]+")
REDACTED = "/invite/[redacted]"
# Loggers that write request paths: uvicorn's access log, and our error log (authsvc.web.http_errors).
PATH_LOGGERS = ("uvicorn.access", "uvicorn.error", "authsvc.errors")


def redact_invite_tokens(text: str) -> str:
    return _INVITE_SEGMENT.sub(REDACTED, text)


class InviteTokenRedactor(logging.Filter):
    """Rewrites a record whose message names an invite path; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Arguments are redacted one by one, keeping the record's shape: uvicorn's access
        # formatter unpacks `record.args` as (client, method, path, version, status).
        if isinstance(record.msg, str) and "/invite/" in record.msg:
            record.msg = redact_invite_tokens(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_invite_tokens(a) if isinstance(a, str) and "/invite/" in a else a
                for a in record.args
            )
        return True


def install_log_redaction() -> None:
    """Add the filter to every logger that writes request paths (idempotent)."""
    for name in PATH_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, InviteTokenRedactor) for f in logger.filters):
            logger.addFilter(InviteTokenRedactor())
