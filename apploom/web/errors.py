"""Engine errors to HTTP answers: JSON ``{"error": {code, message, fields}}`` for the API,
worded in the language of its Accept-Language, an HTML page for the screens, in theirs."""

from __future__ import annotations

from typing import Callable

from flask import Flask, current_app, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from apploom.engine import errors as engine
from apploom.engine.catalogs import in_language
from apploom.engine.messages import message_of, msg
from apploom.web.i18n import client_language, translate
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
    said = "; ".join(_field_lines(fields)) if fields else translate(message_of(exc))
    return f"{translate(NOT_ALLOWED)}: {said}" if isinstance(exc, engine.Forbidden) else said


NOT_ALLOWED = msg("You may not do this")


def _field_lines(fields: dict) -> list[str]:
    return [f"{k}: {_worded(v, translate)}" for k, v in fields.items()]


def _worded(said: object, words: Callable[[str], str]) -> object:
    """A field's message in a language; anything else (a table's rows) as it is."""
    return words(said) if isinstance(said, str) else said


def _engine_error(exc: engine.AppLoomError):
    status = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 400)
    fields = getattr(exc, "fields", None) or {}
    said = message_of(exc)
    if not _wants_json():
        lines = _field_lines(fields)
        if isinstance(exc, engine.Forbidden):
            return _page(NOT_ALLOWED, status, [translate(said), *lines], _retry_after(exc))
        return _page(said, status, lines, _retry_after(exc))
    lang = client_language()
    extra: dict[str, object] = {}
    if fields:
        extra["fields"] = {k: _worded(v, lambda s: in_language(s, lang)) for k, v in fields.items()}
    if isinstance(exc, engine.Conflict):
        # A refusal of the record's state (a delete others refer to) has neither.
        extra.update(
            (k, v) for k, v in (("current", exc.current), ("yours", exc.yours)) if v is not None
        )
        if exc.stale and g.get("precondition"):
            status = 412  # the If-Match header named a version that is not the record's
    if isinstance(exc, engine.DefinitionError):
        extra["problems"] = [in_language(p.worded(), lang) for p in exc.problems]
    response = jsonify(error_body(exc.code, in_language(said, lang), **extra))
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


# The failures a page names (werkzeug's own words are English), spelled out to be translated
FAILURES = {
    400: msg("Bad Request"),
    403: msg("Forbidden"),
    404: msg("Not Found"),
    405: msg("Method Not Allowed"),
}


def _http_error(exc: HTTPException):
    if not _wants_json():
        own = exc.description if exc.description != type(exc).description else None
        return _page(own or FAILURES.get(exc.code or 500) or str(exc.name), exc.code or 500)
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
    message = msg("Something went wrong on our side; the error has been logged.")
    if not _wants_json():
        return _page(message, 500)
    response = jsonify(error_body("internal_error", in_language(message, client_language())))
    response.status_code = 500
    return response


def init_app(app: Flask) -> None:
    app.register_error_handler(engine.AppLoomError, _engine_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
