"""The web layer: Flask app factory, JSON API and (later) screens."""
from __future__ import annotations

from typing import Any, Mapping

from flask import Flask, redirect

from ..engine.runtime import Runtime
from ..engine.settings import Settings
from . import api, errors
from .jsonio import AppLoomJSON


def create_app(config: Mapping[str, Any] | None = None, runtime: Runtime | None = None) -> Flask:
    """Build the app from ``config`` (or APPLOOM_* variables), or around a given runtime."""
    app = Flask(__name__)
    app.json = AppLoomJSON(app)
    runtime = runtime or Runtime.open(Settings.load(config))
    app.extensions["apploom"] = runtime
    app.config["MAX_CONTENT_LENGTH"] = runtime.settings.max_attachment_bytes + 64 * 1024
    errors.init_app(app)
    app.register_blueprint(api.bp)
    app.add_url_rule("/", "index", lambda: redirect("/api/v1/", code=302))
    return app
