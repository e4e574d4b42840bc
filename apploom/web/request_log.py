"""An access log line per request, and a request id that ties it to the error logs.

Every answer carries the id as ``X-Request-Id``. Behind trusted proxies a well-formed id
the proxy sent is kept, so its log and ours name the same request; otherwise a client
could write what it likes into our logs. Paths are logged without their query string:
queries carry searches and the tracking page's token.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from flask import Flask, Response, current_app, g, has_request_context, request, request_started

from apploom import logs

access = logging.getLogger("apploom.access")
_SENT_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def request_id() -> str:
    return g.get("request_id", "-")


def fields() -> dict[str, Any]:
    """What a log line says of the request being served: its id, method, path and who
    sent it (None before sign-in); nothing outside a request."""
    if not has_request_context():
        return {}
    user = g.get("user")
    return {
        "request_id": request_id(),
        "method": request.method,
        "path": request.path,
        "user": user.username if user is not None else None,
    }


def _start(app: Flask, **_) -> None:
    sent = request.headers.get("X-Request-Id", "")
    trusted = current_app.extensions["apploom"].settings.trusted_proxies
    g.request_id = sent if trusted and _SENT_ID.fullmatch(sent) else uuid.uuid4().hex
    g.request_started = time.perf_counter()


def elapsed() -> float:
    """Seconds since the request started, until its answer is ready (a streamed body's
    sending is not counted)."""
    return time.perf_counter() - g.request_started


def _finish(response: Response) -> Response:
    took = elapsed() * 1000
    response.headers["X-Request-Id"] = g.request_id
    access.info(
        "%s %s %s %.1fms request_id=%s",
        request.method,
        request.path,
        response.status_code,
        took,
        g.request_id,
        extra={**fields(), "status": response.status_code, "duration_ms": round(took, 1)},
    )
    return response


def init_app(app: Flask) -> None:
    """Started when the request is (Flask's request_started, before any URL preprocessor
    or before_request hook), so even a request refused early has its id and its line.
    Logging is set up here unless the process did it itself (a WSGI server loads the
    app with nothing set up), so every line of a request names it."""
    logs.configure(app.extensions["apploom"].settings.log_format, fields)
    request_started.connect(_start, app)
    app.after_request(_finish)
