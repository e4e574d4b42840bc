"""``/metrics`` for Prometheus: requests by route and status, their latency, and what the
database holds (the outbox's backlog and dead letters, imports, failed rule runs).

It asks for ``Authorization: Bearer <APPLOOM_METRICS_TOKEN>``; with no token set it is
off (404). A token holds whatever stands in front, where an address check would not: a
proxy on the same host makes every visitor's request come from 127.0.0.1.

Requests are counted in the process that served them. Under several workers set
``PROMETHEUS_MULTIPROC_DIR`` (an empty folder, for the server's processes alone):
prometheus_client keeps each process's counts in files there and any worker answers
with the sum of all. The database's figures are read at each scrape, the same from
every worker.
"""

from __future__ import annotations

import hmac
import logging
import os
from typing import Iterator

from flask import Blueprint, Flask, Response, abort, current_app, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    multiprocess,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy.exc import SQLAlchemyError

from apploom.engine import monitoring
from apploom.engine.errors import BadSetting
from apploom.engine.runtime import Runtime
from apploom.engine.settings import check_key
from apploom.web.request_log import elapsed

bp = Blueprint("metrics", __name__)
log = logging.getLogger(__name__)
_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
# Not registered anywhere: each scrape gathers them into a registry of its own.
REQUESTS = Counter(
    "apploom_http_requests",
    "Requests answered, by method, route (the URL rule, not the path) and status",
    ["method", "route", "status"],
    registry=None,
)
LATENCY = Histogram(
    "apploom_http_request_duration_seconds",
    "Seconds until the answer was ready, by method and route",
    ["method", "route"],
    registry=None,
)


def _count(response: Response) -> Response:
    route = request.url_rule.rule if request.url_rule is not None else "unmatched"
    method = request.method if request.method in _METHODS else "other"
    REQUESTS.labels(method, route, str(response.status_code)).inc()
    LATENCY.labels(method, route).observe(elapsed())
    return response


class DatabaseFigures:
    """The monitoring figures, read from the database at each scrape."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("apploom_database_up", "1 when the database answered the scrape")
        try:
            found = monitoring.figures(self.runtime.db)
        except SQLAlchemyError as exc:
            log.warning("/metrics: the database does not answer: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        kinds = sorted({*self.runtime.senders, *found.waiting, *found.dead})
        waiting = GaugeMetricFamily(
            "apploom_outbox_waiting", "Outbox messages not yet delivered, by kind", labels=["kind"]
        )
        dead = GaugeMetricFamily(
            "apploom_outbox_dead",
            "Dead letters: outbox messages given up on until retried, by kind",
            labels=["kind"],
        )
        for kind in kinds:
            waiting.add_metric([kind], found.waiting[kind])
            dead.add_metric([kind], found.dead[kind])
        yield waiting
        yield dead
        yield GaugeMetricFamily(
            "apploom_outbox_oldest_waiting_seconds",
            "How long the oldest undelivered outbox message has waited (0 for none)",
            value=found.oldest_waiting_seconds,
        )
        imports = GaugeMetricFamily("apploom_imports", "Import jobs by status", labels=["status"])
        for status, count in sorted(found.imports.items()):
            imports.add_metric([status], count)
        yield imports
        failures = CounterMetricFamily(
            "apploom_rule_failures",
            "Rule runs that failed, by entity and rule",
            labels=["entity", "rule"],
        )
        for (entity, rule), count in sorted(found.rule_failures.items()):
            failures.add_metric([entity, rule], count)
        yield failures


@bp.get("/metrics")
def scrape() -> Response:
    runtime: Runtime = current_app.extensions["apploom"]
    expected = runtime.settings.metrics_token
    if not expected:
        abort(404)
    scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(sent.encode(), expected.encode()):
        return Response(
            "/metrics needs the bearer token APPLOOM_METRICS_TOKEN\n",
            401,
            {"WWW-Authenticate": 'Bearer realm="apploom-metrics"'},
            mimetype="text/plain",
        )
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # every process's counts, this one's too
    else:
        registry.register(REQUESTS)
        registry.register(LATENCY)
    registry.register(DatabaseFigures(runtime))
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    """Count every request. A weak token refuses to start, as a weak secret key does, and
    so does a PROMETHEUS_MULTIPROC_DIR that is no folder (each request would fail)."""
    token = app.extensions["apploom"].settings.metrics_token
    if token:
        check_key("APPLOOM_METRICS_TOKEN", token)
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder and not os.path.isdir(folder):
        raise BadSetting(f"PROMETHEUS_MULTIPROC_DIR is {folder}, which is not a folder")
    app.after_request(_count)
    app.register_blueprint(bp)
