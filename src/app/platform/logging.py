"""Logging: one line per record, as text or JSON, each carrying the request id it belongs to.

No request bodies, headers, query strings or tokens are logged, and no job's arguments or
results (a job may carry an address typed by someone who has no account). Whatever a request
put into a message (a path, a user agent, a username) cannot forge a line: the text format
escapes control characters, and the lines of a traceback are indented, so every line that
starts at the left margin is a record of the app's own.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class RequestIdFilter(logging.Filter):
    """Adds `request_id` (the current request's, or '-') to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        for key in ("method", "path", "status", "duration_ms", "client"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"

# C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# The same, but for a traceback's own line breaks.
_CONTROL_BUT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """`text` on one line: control characters written as escapes (`\\n`, `\\x00`)."""
    return _CONTROL.sub(_escape, text)


class TextFormatter(logging.Formatter):
    """One line per record whatever its message holds; a traceback follows it, indented."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: Any) -> str:
        return _indent(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return _indent(super().formatStack(stack_info))


def _indent(text: str) -> str:
    text = _CONTROL_BUT_NEWLINE.sub(_escape, text)
    return "\n".join("    " + line for line in text.splitlines())


class _NoJobPayloads(logging.Filter):
    """ARQ logs each job's arguments when it starts and its result when it ends; either may
    hold personal data (the address a password reset was asked for), so both are dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 3:
            if record.msg == "%6.2fs → %s(%s)%s":
                record.args = (*record.args[:2], "…", *record.args[3:])
            elif record.msg == "%6.2fs ← %s ● %s":
                record.args = (*record.args[:2], "…" if record.args[2] else "")
        return True


def configure_logging(level: str, fmt: str = "text") -> None:
    """Install the app's handler on the root logger once (uvicorn's and ARQ's loggers
    propagate to it); calling again only changes the level and format."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "_app_handler", False)), None)
    if handler is None:
        handler = logging.StreamHandler()
        handler._app_handler = True  # type: ignore[attr-defined]
        handler.addFilter(RequestIdFilter())
        root.addHandler(handler)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.setLevel(level)
    arq_worker = logging.getLogger("arq.worker")
    if not any(isinstance(f, _NoJobPayloads) for f in arq_worker.filters):
        arq_worker.addFilter(_NoJobPayloads())
    # uvicorn's own access log is replaced by the app's (app.access), which leaves out
    # query strings; its other loggers go through the root handler.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True
