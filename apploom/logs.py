"""Log lines on stderr, as text or as one JSON object a line (APPLOOM_LOG_FORMAT=json) for
a log collector: the time, level, logger and message, the process, and whatever a line
says of its request (id, method, path, user, status, duration).

Set up like ``logging.basicConfig``: only in a process that has not set up logging of
its own, so a server's or an operator's logging configuration wins (it can name
:class:`JsonFormatter` too).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any, Callable

TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# What a line may know of its request, set by the logger's `extra` or a filter.
REQUEST_FIELDS = ("request_id", "method", "path", "user", "status", "duration_ms")


class JsonFormatter(logging.Formatter):
    """One JSON object a line; a traceback travels inside it as ``exception``."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        line.update(
            (name, getattr(record, name)) for name in REQUEST_FIELDS if hasattr(record, name)
        )
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class RequestFields(logging.Filter):
    """Gives every line what ``fields()`` knows of the request being served (nothing
    outside one), unless the line says it itself."""

    def __init__(self, fields: Callable[[], dict[str, Any]]):
        super().__init__()
        self.fields = fields

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in self.fields().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


def handler(
    log_format: str, request_fields: Callable[[], dict[str, Any]] | None = None
) -> logging.Handler:
    """A stderr handler writing ``log_format`` ('text' or 'json'), each line with what
    ``request_fields()`` knows of its request."""
    found = logging.StreamHandler()
    found.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT))
    if request_fields is not None:
        found.addFilter(RequestFields(request_fields))
    return found


def configure(log_format: str, request_fields: Callable[[], dict[str, Any]] | None = None) -> None:
    """INFO and above to stderr, unless this process has set up logging already."""
    if not logging.root.handlers:
        logging.root.addHandler(handler(log_format, request_fields))
        logging.root.setLevel(logging.INFO)
