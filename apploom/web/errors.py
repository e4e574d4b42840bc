"""Engine errors to HTTP answers: JSON ``{"error": {code, message, fields}}`` for the API,
an HTML page for the screens."""

from __future__ import annotations

from flask import Flask, current_app, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from apploom.engine import errors as engine
from apploom.web.i18n import translate
from apploom.web.request_log import fields, request_id

STATUS = {
    engine.ValidationFailed: 422,
    engine.DefinitionError: 422,
    engine.BadQuery: 400,
    engine.Unauthenticated: 401,
    engine.TooManyAttempts: 429,
    engine.Forbidden: 403,
    engine.NotFound: 404,
    engine.Conflict: 409,
    engine.MigrationRefused: 409,
    engine.RuleError: 422,
    engine.SandboxError: 422,
}


def error_body(code: str, message: str, **extra) -> dict:
    return {"error": {"code": code, "message": message, **extra}}


def _wants_json() -> bool:
    """The API, the hooks and any call that sent JSON (a webhook) get JSON errors;
    browsers, pages."""
    return request.path.startswith(("/api/", "/hooks/")) or request.is_json


def _page(message: str, status: int, details: list[str] | None = None, headers: dict | None = None):
    """The error page; to an htmx request that swaps a part of a page (not a boosted
    link or form, which shows the whole page), its message in the page's alerts, so a
    refused click never looks like one that did nothing."""
    if request.headers.get("HX-Request") and not request.headers.get("HX-Boosted"):
        fragment = render_template("_alert.html", message=translate(message), details=details)
        alert = {"HX-Retarget": "#alerts", "HX-Reswap": "innerHTML"}
        return fragment, status, {**alert, **(headers or {})}
    page = render_template("error.html", message=translate(message), details=details)
    return page, status, headers or {}


def refusal(exc: engine.AppLoomError) -> str:
    """What a screen tells a user the engine refused: a refusal of their rights says so
    first, in their language."""
    fields = getattr(exc, "fields", None) or {}
    said = "; ".join(f"{k}: {v}" for k, v in fields.items()) if fields else str(exc)
    return f"{translate(NOT_ALLOWED)}: {said}" if isinstance(exc, engine.Forbidden) else said


NOT_ALLOWED = "You may not do this"


def _engine_error(exc: engine.AppLoomError):
    status = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 400)
    fields = getattr(exc, "fields", None) or {}
    if not _wants_json():
        lines = [f"{k}: {v}" for k, v in fields.items()]
        if isinstance(exc, engine.Forbidden):
            return _page(NOT_ALLOWED, status, [str(exc), *lines], _retry_after(exc))
        return _page(str(exc), status, lines, _retry_after(exc))
    extra = {}
    if fields:
        extra["fields"] = fields
    if isinstance(exc, engine.Conflict):
        # A refusal of the record's state (a delete others refer to) has neither.
        extra.update(
            (k, v) for k, v in (("current", exc.current), ("yours", exc.yours)) if v is not None
        )
        if exc.stale and g.get("precondition"):
            status = 412  # the If-Match header named a version that is not the record's
    if isinstance(exc, engine.DefinitionError):
        extra["problems"] = [str(p) for p in exc.problems]
    response = jsonify(error_body(exc.code, str(exc), **extra))
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="apploom"'
    response.headers.update(_retry_after(exc))
    return response


def _retry_after(exc: engine.AppLoomError) -> dict[str, str]:
    """When a client refused for too many failures may try again."""
    if isinstance(exc, engine.TooManyAttempts):
        return {"Retry-After": str(exc.retry_after)}
    return {}


def _http_error(exc: HTTPException):
    if not _wants_json():  # werkzeug's own words are English: its page names the failure
        own = exc.description if exc.description != type(exc).description else None
        return _page(own or exc.name, exc.code or 500)
    response = jsonify(error_body(exc.name.lower().replace(" ", "_"), exc.description or exc.name))
    response.status_code = exc.code or 500
    # What the exception says beyond its body: a 405's Allow, a 401's WWW-Authenticate.
    response.headers.update((k, v) for k, v in exc.get_headers() if k != "Content-Type")
    return response


def _unexpected(exc: Exception):
    """A bug, not bad input: log it with its traceback and the request's id, method, path
    and user (the access line of the same id follows), answer without one."""
    current_app.logger.exception(
        "Unexpected error in %s %s request_id=%s",
        request.method,
        request.path,
        request_id(),
        exc_info=exc,
        extra=fields(),
    )
    message = "Something went wrong on our side; the error has been logged."
    if not _wants_json():
        return _page(message, 500)
    response = jsonify(error_body("internal_error", message))
    response.status_code = 500
    return response


def init_app(app: Flask) -> None:
    app.register_error_handler(engine.AppLoomError, _engine_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
