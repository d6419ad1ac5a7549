"""Keep secrets and floods out of the logs.

Invite tokens travel in the accept path, `/invite/{token}/accept`: the access log (uvicorn) and the
error log name the request path, so both loggers get a filter that replaces the token segment
before any handler formats the record. Bearer tokens never reach a log line in the first place
(see authsvc.security.tokens), nor do refused request values (authsvc.web.connexion31 logs where and
which rule only).

And no record is longer than `MAX_LOG_MESSAGE_CHARS`, whichever library writes it: a 2 MB field
quoted by some log line must not become 2 MB of log. The bound is a log-record factory, so it holds
for every logger and handler, including those uvicorn configures after the app is built.
"""

from __future__ import annotations

import logging
import re
from typing import Any

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


MAX_LOG_MESSAGE_CHARS = 4096
MIN_ARGUMENT_CHARS = 64


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... [{len(text) - limit} chars cut]"


class BoundedLogRecords:
    """A log-record factory whose records' messages and tracebacks are bounded in length."""

    def __init__(self, make: Any) -> None:
        self.make = make

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = self.make(*args, **kwargs)
        bound_record(record)
        return record


def bound_record(record: logging.LogRecord, limit: int = MAX_LOG_MESSAGE_CHARS) -> None:
    """Cut an over-long record in place: its string arguments first, else its whole message."""
    try:
        message = record.getMessage()
    except Exception:
        return  # a broken format: logging reports it itself, as it would have
    if len(message) > limit:
        if isinstance(record.args, tuple) and record.args:
            # Arguments one by one, keeping the record's shape: uvicorn's access formatter
            # unpacks `record.args` as (client, method, path, version, status).
            share = max(MIN_ARGUMENT_CHARS, limit // (len(record.args) + 1))
            record.args = tuple(_cut(a, share) if isinstance(a, str) else a for a in record.args)
            message = record.getMessage()
        if len(message) > limit:
            record.msg, record.args = _cut(message, limit), ()
    if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
        text = logging.Formatter().formatException(record.exc_info)
        if len(text) > limit:
            # The end names the exception, the start where it began: keep both.
            half = limit // 2
            cut = len(text) - 2 * half
            record.exc_text = f"{text[:half]}\n... [{cut} chars cut] ...\n{text[-half:]}"


def install_log_redaction() -> None:
    """Add the filter to every logger that writes request paths, and bound every record
    (idempotent)."""
    for name in PATH_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, InviteTokenRedactor) for f in logger.filters):
            logger.addFilter(InviteTokenRedactor())
    make = logging.getLogRecordFactory()
    if not isinstance(make, BoundedLogRecords):
        logging.setLogRecordFactory(BoundedLogRecords(make))
