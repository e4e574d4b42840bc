"""The runtime a request runs on, and what a request proves about itself."""

from __future__ import annotations

from flask import abort, current_app, g, request

from apploom.engine.access.signatures import accept_delivery
from apploom.engine.runtime import Runtime

# Blueprints that answer machines (probes, /metrics): no user to load, and no reload of
# definitions, so they answer even when the database does not.
MACHINE_FACING = frozenset({"health", "metrics"})


def runtime() -> Runtime:
    """Pinned when the request starts, so definitions reloaded by another thread meanwhile
    cannot change it halfway through."""
    return g.get("runtime") or current_app.extensions["apploom"]


def require_signed_call(secret: str) -> None:
    """Answer 401 unless this request is a webhook call signed under ``secret`` (its
    time, path and body) and not delivered before (see engine/access/signatures.py)."""
    signed = request.headers.get("X-AppLoom-Signature", "")
    refused = accept_delivery(runtime().db, secret, request.path, request.get_data(), signed)
    if refused:
        abort(401, refused)
