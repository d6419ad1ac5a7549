"""Where log lines go and what they look like: `AUTHSVC_LOG_FORMAT=text` (default) or `json`.

One handler on the root logger, on stderr, for our loggers and uvicorn's alike (uvicorn is told
not to install its own, and its access log is replaced by `authsvc.access`, which names the
operationId instead of the raw path). In `json`, each record is one JSON object on one line:

    {"time": "2026-12-05T10:00:00.123Z", "level": "INFO", "logger": "authsvc.access",
     "event": "POST customers.resend_invite 200 4.1ms", "request_id": "...",
     "method": "POST", "operation_id": "customers.resend_invite", "status": 200,
     "duration_ms": 4.1}

`request_id` is on every line written while a request runs (`authsvc.request_id`). The invite-token
redaction (`authsvc.security.redaction`) filters records before either formatter sees them, and no
code logs a bearer token, a password or a refused setting's value, so neither format holds one.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal

from authsvc import request_id

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Record attributes a log call may add with `extra=` that the JSON line carries as fields.
EXTRA_FIELDS = ("method", "operation_id", "status", "duration_ms")


class RequestIdFilter(logging.Filter):
    """Stamp each record with the id of the request being served, if any."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.current.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC)
        line: dict[str, Any] = {
            "time": stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for name in EXTRA_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The classic line, with ` request_id=...` appended while a request runs."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        rid = getattr(record, "request_id", None)
        return f"{text} request_id={rid}" if rid else text


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is when a record is emitted (it may be replaced)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure_logging(level: str = "INFO", log_format: LogFormat = "text") -> None:
    """One stderr handler on the root logger in `log_format`, replacing ours (idempotent)."""
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(RequestIdFilter())
    remove_handlers()
    root = logging.getLogger()
    root.addHandler(handler)
    # DEBUG is for our own lines and uvicorn's; other libraries stay at INFO.
    root.setLevel(logging.INFO if level == "DEBUG" else level)
    logging.getLogger("authsvc").setLevel(level)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # Python warnings (a library's deprecation notice) become records of `py.warnings`, in the
    # chosen format, instead of free text on stderr between the JSON lines.
    logging.captureWarnings(True)
    # uvicorn's loggers write through the root handler (uvicorn_config passes log_config=None).
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
        logging.getLogger(name).setLevel(level)
    # Its access log (raw paths) is replaced by authsvc.access: uvicorn writes it only to a logger
    # that has somewhere to write, so this one gets nowhere, in every worker process too.
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False


def remove_handlers() -> None:
    """Take out what `configure_logging` installed (for code that calls the CLI in-process)."""
    root = logging.getLogger()
    for old in list(root.handlers):
        if isinstance(old, _StderrHandler):
            root.removeHandler(old)
    logging.captureWarnings(False)
