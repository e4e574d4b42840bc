"""Signing in and out with the engine's users, the signed-in user for each request,
and CSRF protection for every form post and htmx request."""

from __future__ import annotations

import hmac
import secrets
from functools import wraps
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from markupsafe import Markup

from apploom.engine.errors import TooManyAttempts
from apploom.engine.messages import message_of
from apploom.web.context import MACHINE_FACING, runtime
from apploom.web.i18n import LANGUAGES, translate

bp = Blueprint("session", __name__)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def csrf_input() -> Markup:
    """The hidden input in which every form posts the session's CSRF token."""
    return Markup('<input type="hidden" name="csrf_token" value="{}">').format(csrf_token())


def check_csrf() -> None:
    """Every unsafe request from a browser carries the session's token (form or header)."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
    expected = session.get("csrf", "")
    if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        abort(400, translate("The form expired; please try again."))


bp.before_request(check_csrf)


def load_user() -> None:
    g.user = None
    if request.endpoint == "static" or request.blueprint in MACHINE_FACING:
        return
    user_id = session.get("user_id")
    if user_id is not None:
        g.user = runtime().users.for_session(user_id, session.get("epoch", 0))


def login_required(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        if g.user is None:
            return redirect(url_for("session.login", next=request.full_path))
        return view(*args, **kwargs)

    return wrapped


def safe_next(target: str | None, fallback: str | None = None) -> str:
    """Only local paths: a link must not send anyone elsewhere."""
    parts = urlsplit(target or "")
    if (
        target
        and not parts.scheme
        and not parts.netloc
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
    ):
        return target
    return fallback or url_for("home.launcher")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "POST":
        users = current_app.extensions["apploom"].users
        try:
            user = users.authenticate(
                request.form.get("username", "").strip(),
                request.form.get("password", ""),
                request.remote_addr or "",
            )
        except TooManyAttempts as exc:
            message = translate(message_of(exc))
            return _login_page(message, 429, {"Retry-After": str(exc.retry_after)})
        if user is not None:
            lang = session.get("lang")
            session.clear()
            session.update(
                user_id=user.id,
                lang=lang,
                csrf=secrets.token_urlsafe(32),
                epoch=users.session_epoch(user.id),
            )
            return redirect(safe_next(request.form.get("next")), code=303)
        return _login_page(translate("Wrong username or password."), 401)
    return _login_page("", 200)


def _login_page(error: str, status: int, headers: dict[str, str] | None = None):
    return (
        render_template(
            "login.html",
            error=error,
            next=request.values.get("next", ""),
            username=request.form.get("username", ""),
        ),
        status,
        headers or {},
    )


@bp.post("/logout")
def logout():
    """Signing out ends every session of the user, so a copied cookie stops working too."""
    if g.user is not None:
        current_app.extensions["apploom"].users.end_sessions(g.user.id)
    lang = session.get("lang")
    session.clear()
    session["lang"] = lang
    return redirect(url_for("session.login"), code=303)


@bp.get("/lang/<code>")
def language(code: str):
    if code in LANGUAGES:
        session["lang"] = code
        if g.user is not None:
            current_app.extensions["apploom"].users.read_in(g.user.id, code)
    return redirect(safe_next(request.args.get("next")), code=303)


def init_app(app) -> None:
    app.before_request(load_user)
    app.register_blueprint(bp)
