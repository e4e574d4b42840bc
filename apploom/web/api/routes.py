"""The REST API under /api/v1: every entity of every app, through the record service."""

from __future__ import annotations

import io
import json
from typing import Any

from flask import Blueprint, g, jsonify, request, send_file, url_for

from apploom.engine.access import permissions
from apploom.engine.catalogs import in_language
from apploom.engine.errors import BadQuery, NotFound, Unauthenticated, ValidationFailed
from apploom.engine.fields.base import MAX_INT, parse_int
from apploom.engine.imports.service import Options
from apploom.engine.imports.templates import TEMPLATE_TYPES
from apploom.engine.messages import msg
from apploom.engine.query.filters import parse_params
from apploom.web.api.openapi import openapi_document, report_parameters
from apploom.web.context import runtime
from apploom.web.i18n import LANGUAGES, client_language
from apploom.web.prints import record_pdf
from apploom.web.reports import flow_options

bp = Blueprint("api", __name__, url_prefix="/api/v1")
RECORD = "/<app>/<entity>/<int:record_id>"
PUBLIC = {"api.openapi"}


@bp.url_value_preprocessor
def record_exists(endpoint: str | None, values: dict | None) -> None:
    """An id past the largest one a record can have names no record: 404, not a 405
    from the routes that did not match."""
    if values and values.get("record_id", 0) > MAX_INT:
        raise NotFound(msg("There is no record with id {id}", id=values["record_id"]))


@bp.before_request
def authenticate() -> None:
    if request.endpoint in PUBLIC:
        return
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    user = (
        runtime().users.for_token(token.strip(), request.remote_addr or "")
        if scheme.lower() == "bearer"
        else None
    )
    if user is None:
        raise Unauthenticated(
            "Send a valid API token: 'Authorization: Bearer <token>' "
            "(create one with 'apploom token create USERNAME')"
        )
    g.user = user


def _body() -> Any:
    data = request.get_json(silent=True)
    if data is None:
        raise BadQuery(
            msg("The body must be a JSON object sent with Content-Type: application/json"),
            {"body": msg("must be JSON")},
        )
    return data


def _version(data: Any) -> int | None:
    """The version the client read: from the body's 'version' or an If-Match header (the
    record's ETag). A stale If-Match answers 412, as HTTP has it; a stale body 409."""
    if isinstance(data, dict) and "version" in data and data["version"] is None:
        raise ValidationFailed(
            {"version": msg("must be a whole number; leave it out to send none")}
        )
    raw = data.pop("version", None) if isinstance(data, dict) else None
    etag = request.headers.get("If-Match")
    if etag:
        tag = etag.removeprefix("W/").strip('"')
        if not (parse_int(tag) or 0) >= 1:
            raise ValidationFailed({"If-Match": msg('must be the ETag read, like "3"')})
        if raw is None:
            g.precondition = True
            raw = tag
    if raw is None:
        raw = request.args.get("version")
    if raw in (None, ""):
        return None
    version = parse_int(raw)
    if version is None or version < 1:
        raise ValidationFailed({"version": msg("must be a whole number")})
    return version


@bp.get("/")
def index():
    rt = runtime()
    apps = []
    for app in rt.apps.ordered():
        entities = [
            {
                "name": e.name,
                "label": {"en": e.label.en, "zh": e.label.zh},
                "url": url_for("api.collection", app=app.name, entity=e.name),
            }
            for e in app.entities.values()
            if not e.is_child and permissions.scope(rt.apps, g.user, e, "read")
        ]
        if entities:
            apps.append(
                {
                    "name": app.name,
                    "label": {"en": app.label.en, "zh": app.label.zh},
                    "entities": entities,
                }
            )
    return jsonify(
        {
            "user": g.user.username,
            "roles": sorted(g.user.roles),
            "apps": apps,
            "openapi": url_for("api.openapi"),
        }
    )


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document(runtime().apps, runtime().types))


@bp.get("/<app>/<entity>")
def collection(app: str, entity: str):
    page = runtime().records.list(g.user, f"{app}.{entity}", parse_params(request.args))
    return jsonify(
        {"data": page.data, "total": page.total, "total_exact": page.total_exact, "next": page.next}
    )


@bp.post("/<app>/<entity>")
def create(app: str, entity: str):
    record = runtime().records.create(
        g.user, f"{app}.{entity}", _body(), idempotency_key=request.headers.get("Idempotency-Key")
    )
    response = jsonify(record)
    response.status_code = 201
    response.headers["Location"] = url_for(
        "api.item", app=app, entity=entity, record_id=record["id"]
    )
    return response


@bp.get("/<app>/<entity>/flow")
def flow(app: str, entity: str):
    """Workflow analytics: records per state, hours spent in each (average, 90th
    percentile), finished per period, and the records waiting longer than stuck_hours."""
    _known_parameters({"period", "stuck_hours"})
    return jsonify(runtime().flow.analyse(g.user, f"{app}.{entity}", **flow_options(request.args)))


@bp.get("/reports/<app>/<name>")
def report(app: str, name: str):
    """A report's rows and totals; the viewer's filters are parameters: from, to (the
    first date filter), <filter>=a,b, <date filter>__gte / __lte."""
    found = runtime().reports.find(app, name)
    _known_parameters(
        {p["name"] for p in report_parameters(runtime().apps, runtime().types, found)}
    )
    return jsonify(runtime().reports.run(g.user, found, request.args, client_language()).as_dict())


def _known_parameters(known: set[str]) -> None:
    """A parameter the operation does not take is refused, not ignored: a misspelt
    filter would otherwise answer for every record."""
    unknown = sorted(set(request.args) - known)
    if unknown:
        raise BadQuery(
            msg(
                "'{name}' is not a parameter here; known: {known}",
                name=unknown[0],
                known=", ".join(sorted(known)) or msg("none"),
            ),
            {name: msg("is not a parameter here") for name in unknown},
        )


@bp.post("/<app>/<entity>/import")
def import_file(app: str, entity: str):
    """Import a CSV or XLSX file (multipart ``file``) as a job: answered 202 once the file
    is kept and its header, ``mapping`` (JSON, column -> field; by default the last
    import's of a file with this header, else the guess from it), ``constants`` (JSON,
    field -> value for every record), ``create`` (ref fields whose missing records are
    created), ``dry_run`` and ``then`` are checked; the rows are the job's."""
    upload = request.files.get("file")
    if upload is None:
        raise ValidationFailed({"file": msg("send the file as multipart/form-data 'file'")})
    job = runtime().imports.submit(
        g.user,
        f"{app}.{entity}",
        upload.filename or "",
        upload.stream,
        _mapping() if request.form.get("mapping") else None,
        dry_run=_flag("dry_run"),
        options=Options.of(
            request.form.get("then") or None,
            _constants() if request.form.get("constants") else None,
            [n.strip() for n in request.form.get("create", "").split(",") if n.strip()],
        ),
    )
    return _accepted(job)


@bp.get("/<app>/<entity>/import/template")
def import_template(app: str, entity: str):
    """A blank file to fill for an import: ``format`` xlsx (the default) or csv, headed in
    ``lang`` (en or zh; English by default)."""
    lang = request.args.get("lang", "en")
    if lang not in ("en", "zh"):
        raise ValidationFailed({"lang": msg("must be en or zh")})
    name, data = runtime().imports.template(
        g.user, f"{app}.{entity}", request.args.get("format", "xlsx"), lang
    )
    return send_file(
        io.BytesIO(data),
        mimetype=TEMPLATE_TYPES[name.rsplit(".", 1)[1]],
        as_attachment=True,
        download_name=name,
    )


@bp.post("/<app>/<entity>/bulk/transitions/<name>")
def bulk_transition(app: str, entity: str, name: str):
    """Take a transition on many records as a job: ``ids``, a comment and the fields it
    asks for (the same for each); each record is taken or refused on its own."""
    data = _body()
    if not isinstance(data, dict):
        raise ValidationFailed({"body": msg("must be a JSON object")})
    ids, comment = data.pop("ids", None), data.pop("comment", None)
    return _accepted(
        runtime().bulk.start(g.user, f"{app}.{entity}", name, ids, data, comment=comment)
    )


def _accepted(job: dict):
    """202: the work is queued; its job's URL (Location, and ``url``) says how it goes."""
    located = _located(job)
    response = jsonify(located)
    response.status_code = 202
    response.headers["Location"] = located["url"]
    return response


def _located(job: dict) -> dict:
    """A job with its URL; an import's problems and a bulk action's refusals worded in the
    client's language."""
    if job.get("outcome"):
        job = {**job, "outcome": _worded(job["outcome"], client_language())}
    return {**job, "url": url_for("api.job", job_id=job["id"])}


def _worded(outcome: dict, lang: str) -> dict:
    """An outcome's problems (an import's errors, a bulk action's refusals) in ``lang``."""

    def word(said: dict) -> dict:
        worded = {**said, "message": in_language(said["message"], lang)}
        if "fields" in said:
            worded["fields"] = {
                k: in_language(v, lang) if isinstance(v, str) else v
                for k, v in said["fields"].items()
            }
        return worded

    lists = {
        key: [word(s) for s in outcome[key]] for key in ("errors", "refused") if key in outcome
    }
    return {**outcome, **lists}


@bp.get("/jobs")
def jobs():
    """Your latest jobs, newest first; each one's outcome is at its URL."""
    _known_parameters(set())
    return jsonify({"data": [_located(job) for job in runtime().jobs.recent(g.user)]})


@bp.get(f"/jobs/<int(max={MAX_INT}):job_id>")
def job(job_id: int):
    """A job's status, progress and outcome: to whoever started it, and to admins."""
    return jsonify(_located(runtime().jobs.view(g.user, job_id)))


def _flag(name: str) -> bool:
    """A yes/no form field; anything but these words is refused, not taken for no."""
    word = request.form.get(name, "").strip().lower()
    if word not in ("", "1", "0", "true", "false", "yes", "no"):
        raise ValidationFailed({name: msg("must be true or false")})
    return word in ("1", "true", "yes")


def _constants() -> dict[str, str]:
    """The form's ``constants``: a JSON object from field names to values as text."""
    try:
        constants = json.loads(request.form["constants"])
    except ValueError:
        constants = None
    if not isinstance(constants, dict) or not all(isinstance(v, str) for v in constants.values()):
        raise ValidationFailed(
            {"constants": msg('must be a JSON object of field -> value, like {{"channel": "web"}}')}
        )
    return constants


def _mapping() -> dict[str, str]:
    """The form's ``mapping``: a JSON object from column names to field paths."""
    try:
        mapping = json.loads(request.form["mapping"])
    except ValueError:
        mapping = None
    if not isinstance(mapping, dict) or not all(
        v is None or isinstance(v, str) for v in mapping.values()
    ):
        raise ValidationFailed(
            {"mapping": msg('must be a JSON object of column -> field, like {{"SKU": "sku"}}')}
        )
    return mapping


@bp.get(RECORD)
def item(app: str, entity: str, record_id: int):
    ref = f"{app}.{entity}"
    record = runtime().records.get(g.user, ref, record_id)
    return _tagged(
        {**record, "_meta": {"transitions": runtime().transitions.allowed(g.user, ref, record_id)}}
    )


def _tagged(record: dict):
    """A record's answer with its version as the ETag, for If-Match on the next write."""
    response = jsonify(record)
    response.headers["ETag"] = f'"{record["version"]}"'
    return response


@bp.get(RECORD + "/print/<name>")
def print_record(app: str, entity: str, record_id: int, name: str):
    _known_parameters({"lang"})
    if request.args.get("lang", "en") not in LANGUAGES:
        raise BadQuery(msg("lang: use en or zh"), {"lang": msg("must be en or zh")})
    return record_pdf(app, entity, record_id, name)


@bp.post(RECORD + "/transitions/<name>")
def transition(app: str, entity: str, record_id: int, name: str):
    """Take a workflow transition; the body may carry a comment and the fields it asks for."""
    data = _body() if request.content_length else {}
    if not isinstance(data, dict):
        raise ValidationFailed({"body": msg("must be a JSON object")})
    comment = data.pop("comment", None)
    version = _version(data)
    record = runtime().transitions.take(
        g.user, f"{app}.{entity}", record_id, name, data, comment=comment, version=version
    )
    return jsonify(record)


@bp.patch(RECORD)
def patch(app: str, entity: str, record_id: int):
    data = _body()
    version = _version(data)
    return _tagged(
        runtime().records.update(g.user, f"{app}.{entity}", record_id, data, version=version)
    )


@bp.delete(RECORD)
def remove(app: str, entity: str, record_id: int):
    runtime().records.delete(g.user, f"{app}.{entity}", record_id, version=_version(None))
    return "", 204


@bp.get(RECORD + "/history")
def history(app: str, entity: str, record_id: int):
    return jsonify({"data": runtime().records.history(g.user, f"{app}.{entity}", record_id)})


@bp.post(RECORD + "/webhooks/<name>")
def webhook(app: str, entity: str, record_id: int, name: str):
    """An inbound webhook: runs the record's rules on {webhook: name} with the JSON body."""
    payload = _body() if request.content_length else {}
    return jsonify(
        runtime().automation.call_webhook(g.user, f"{app}.{entity}", record_id, name, payload)
    )


@bp.post("/attachments")
def upload():
    upload = request.files.get("file")
    if upload is None:
        raise ValidationFailed({"file": msg("send the file as multipart/form-data field 'file'")})
    meta = runtime().attachments.store(
        g.user, upload.stream, upload.filename or "file", upload.mimetype
    )
    response = jsonify(meta)
    response.status_code = 201
    return response


@bp.get("/attachments/<attachment_id>")
def download(attachment_id: str):
    meta, path = runtime().attachments.open(g.user, attachment_id)
    return send_file(
        path, mimetype=meta["content_type"], as_attachment=True, download_name=meta["name"]
    )
