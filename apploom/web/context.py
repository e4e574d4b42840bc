"""The runtime a request runs on."""

from __future__ import annotations

from flask import current_app, g

from apploom.engine.runtime import Runtime


def runtime() -> Runtime:
    """Pinned when the request starts, so definitions reloaded by another thread meanwhile
    cannot change it halfway through."""
    return g.get("runtime") or current_app.extensions["apploom"]
