"""The web layer: the Flask app factory, the screens and the JSON API."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Mapping

from flask import Flask, current_app, g, request, url_for
from werkzeug.middleware.proxy_fix import ProxyFix

from apploom.engine.access import permissions
from apploom.engine.fields.dates import local_time
from apploom.engine.runtime import Runtime
from apploom.engine.settings import Settings, secret_key
from apploom.engine.versions.applied import definitions_mark
from apploom.plugins import open_runtime
from apploom.web import (
    api,
    display,
    errors,
    health,
    home,
    imports,
    lists,
    metrics,
    notifying,
    prints,
    records,
    reports,
    request_log,
    security_headers,
    session,
    studio,
)
from apploom.web.api.jsonio import AppLoomJSON
from apploom.web.context import MACHINE_FACING, runtime
from apploom.web.i18n import current_language, label, shown_name, translate
from apploom.web.studio import prints as studio_prints

_PACKAGE = Path(__file__).resolve().parents[1]


def templates_dir() -> Path:
    """``templates/`` of the repository, or its copy inside an installed wheel."""
    packaged = _PACKAGE / "bundled" / "templates"
    return packaged if packaged.is_dir() else _PACKAGE.parent / "templates"


def create_app(config: Mapping[str, Any] | None = None, runtime: Runtime | None = None) -> Flask:
    """Build the app from ``config`` (or APPLOOM_* variables), or around a given runtime."""
    app = Flask(
        __name__, template_folder=str(templates_dir()), static_folder=str(_PACKAGE / "static")
    )
    app.json = AppLoomJSON(app)
    settings = runtime.settings if runtime else Settings.load(config)
    key = secret_key(settings)  # before connecting: a bad key refuses to start
    runtime = runtime or open_runtime(settings)
    app.extensions["apploom"] = runtime
    app.config.update(
        SECRET_KEY=key,
        MAX_CONTENT_LENGTH=runtime.settings.max_attachment_bytes + 64 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=runtime.settings.https_only_cookies,
        SESSION_COOKIE_NAME="apploom_session",
    )
    hops = runtime.settings.trusted_proxies
    if hops:  # the client's address, scheme and host as the proxies in front saw them
        proxied = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
        app.wsgi_app = proxied  # type: ignore[method-assign]
    request_log.init_app(app)
    metrics.init_app(app)
    errors.init_app(app)
    security_headers.init_app(app)
    app.before_request(_follow_definitions)
    session.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(home.bp)
    app.register_blueprint(notifying.bp)
    app.register_blueprint(lists.bp)
    app.register_blueprint(records.bp)
    app.register_blueprint(prints.bp)
    app.register_blueprint(imports.bp)
    app.register_blueprint(reports.bp)
    app.register_blueprint(studio.bp)
    app.register_blueprint(studio_prints.bp)
    app.context_processor(_template_helpers)
    app.jinja_env.filters.update(display.FILTERS)  # figures and times people read
    app.add_template_filter(local_time, "input_time")  # a datetime-local input's value
    app.add_template_filter(shown_name, "shown_name")  # a colour's or a role's name
    app.add_template_global(shown_name, "shown_name")
    if runtime.plugins is not None:
        runtime.plugins.hook.apploom_routes(app=app)
    return app


_reloading = threading.Lock()


def _follow_definitions() -> None:
    """Definitions applied elsewhere (the studio in another worker, 'apploom apps apply')
    are served from the next request on: one cheap query tells, and the apps are loaded
    again only when it changed."""
    if request.endpoint == "static" or request.blueprint in MACHINE_FACING:
        return
    runtime = current_app.extensions["apploom"]
    with runtime.db.read() as conn:
        mark = definitions_mark(conn)
    if mark != runtime.definitions_mark:
        with _reloading:
            if current_app.extensions["apploom"] is runtime:  # the same connection pool
                current_app.extensions["apploom"] = open_runtime(
                    runtime.settings, runtime.plugins, runtime.db
                )
    g.runtime = current_app.extensions["apploom"]


def _template_helpers() -> dict:
    rt_apps = lists.runtime().apps
    types = runtime().types  # templates ask a field's type, never its name

    def nav_apps():
        if g.get("user") is None:
            return []
        return [
            a
            for a in rt_apps.ordered()
            if any(
                not e.is_child and permissions.scope(rt_apps, g.user, e, "read")
                for e in a.entities.values()
            )
        ]

    def list_url(entity, params, **changes):
        merged = {**params, **changes}
        return url_for(
            "lists.entity_list",
            app=entity.app,
            entity=entity.name,
            **{k: v for k, v in merged.items() if v not in (None, "")},
        )

    def export_url(entity, params, fmt):
        return url_for(
            "lists.export_list",
            app=entity.app,
            entity=entity.name,
            fmt=fmt,
            **{k: v for k, v in params.items() if k not in ("offset", "limit")},
        )

    def badges(entity, name, value) -> list[dict]:
        """A value as coloured badges: a workflow state's, or one per option chosen when
        the field's options have colours; [] for other fields and values."""
        workflow = entity.workflow
        if workflow is not None and name == workflow.field and value in workflow.states:
            state = workflow.states[value]
            return [{"text": label(state.label), "colour": state.colour}]
        fld = entity.fields.get(name)
        if fld is None or not any(o.colour for o in fld.options) or value in (None, "", []):
            return []
        chosen = value if isinstance(value, list) else [value]
        return [
            {"text": label(o.label), "colour": o.colour or "grey"}
            for o in fld.options
            if o.value in chosen
        ]

    def badge(entity, name, value):
        """The badge of a single value (a status, a coloured option), or None."""
        found = [] if isinstance(value, list) else badges(entity, name, value)
        return found[0] if found else None

    def label_of(value: dict | None) -> str:
        """A label sent as {en, zh} (as the engine lists transitions)."""
        return (value or {}).get(current_language()) or (value or {}).get("en", "")

    def unread() -> int:
        return runtime().notifications.unread(g.user) if g.get("user") else 0

    return {
        "t": translate,
        "label": label,
        "lang": current_language(),
        "badge": badge,
        "badges": badges,
        "unread": unread,
        "label_of": label_of,
        "field_type": lambda fld: types[fld.type],
        "user_choices": display.user_choices,
        "rule_trigger": display.rule_trigger,
        "is_computed": types.computed,
        "csrf_token": session.csrf_token,
        "csrf_input": session.csrf_input,
        "nav_apps": nav_apps,
        "list_url": list_url,
        "export_url": export_url,
        "serves": lambda endpoint: endpoint in current_app.view_functions,  # a plugin's page
    }
