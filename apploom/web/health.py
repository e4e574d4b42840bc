"""Probes for a load balancer or an orchestrator, answered without sign-in.

``/healthz``: the process answers (no database: a slow database must not get a live
process restarted). ``/readyz``: the database answers and holds installed definitions,
so requests can be served; 503 otherwise, with the reason.
"""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify
from sqlalchemy import inspect
from sqlalchemy.exc import SQLAlchemyError

from apploom.engine.storage.system_tables import sys_app_version
from apploom.engine.versions.applied import active_hashes

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    db = current_app.extensions["apploom"].db
    try:
        with db.read() as conn:
            installed = inspect(conn).has_table(sys_app_version.name) and bool(active_hashes(conn))
    except SQLAlchemyError as exc:
        log.warning("not ready: the database does not answer: %s", exc)
        return jsonify(status="unavailable", reason="the database does not answer"), 503
    if not installed:
        return jsonify(status="unavailable", reason="no apps installed: run 'apploom init'"), 503
    return jsonify(status="ready")
