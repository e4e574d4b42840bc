"""The import screens: upload a CSV or Excel file, map its columns to fields (guessed
first), try a dry run, import, and watch the progress bar; the engine does the work."""

from __future__ import annotations

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for

from apploom.engine.errors import ValidationFailed
from apploom.engine.fields.base import MAX_INT
from apploom.engine.jobs.service import ACTIVE
from apploom.web.context import runtime
from apploom.web.session import check_csrf, login_required

bp = Blueprint("imports", __name__)
bp.before_request(check_csrf)
JOB = f"/imports/<int(max={MAX_INT}):job_id>"


@bp.get("/a/<app>/<entity>/import")
@login_required
def upload_form(app: str, entity: str):
    found = runtime().records.entity(f"{app}.{entity}")
    return render_template("imports/import.html", entity=found, job=None, errors={})


@bp.post("/a/<app>/<entity>/import")
@login_required
def upload(app: str, entity: str):
    found = runtime().records.entity(f"{app}.{entity}")
    sent = request.files.get("file")
    try:
        if sent is None or not sent.filename:
            raise ValidationFailed({"file": "choose a .csv or .xlsx file"})
        job = runtime().imports.upload(g.user, found.qualified, sent.filename, sent.stream)
    except ValidationFailed as exc:
        return render_template(
            "imports/import.html", entity=found, job=None, errors=exc.fields
        ), 422
    return redirect(url_for("imports.job", job_id=job["id"]), code=303)


@bp.get(JOB)
@login_required
def job(job_id: int):
    return _page(runtime().imports.get(g.user, job_id))


@bp.post(JOB)
@login_required
def start(job_id: int):
    jobs = runtime().imports
    found = jobs.get(g.user, job_id)
    mapping = {column: request.form.get(f"map-{i}", "") for i, column in enumerate(found["header"])}
    try:
        jobs.start(
            g.user,
            job_id,
            {c: t for c, t in mapping.items() if t},
            dry_run=request.form.get("run") == "dry",
            then=request.form.get("then") or None,
        )
    except ValidationFailed as exc:
        return _page({**found, "mapping": mapping}, exc.fields), 422
    return redirect(url_for("imports.job", job_id=job_id), code=303)


@bp.get(JOB + "/status")
@login_required
def status(job_id: int):
    """The progress bar, polled while the import runs; the whole page once it is done."""
    found = runtime().imports.get(g.user, job_id)
    if found["status"] in ACTIVE:
        return render_template("imports/_progress.html", job=found)
    response = current_app.make_response("")
    response.headers["HX-Refresh"] = "true"
    return response


def _page(found: dict, errors: dict | None = None):
    rt = runtime()
    entity = rt.records.entity(found["entity"])
    mapping = found["mapping"] or rt.imports.importer.guess(entity, found["header"])
    transitions = entity.workflow.transitions.values() if entity.workflow else ()
    return render_template(
        "imports/import.html",
        entity=entity,
        job=found,
        mapping=mapping,
        targets=rt.imports.importer.targets(entity),
        errors=errors or {},
        transitions=[
            t for t in transitions if rt.transitions.may(g.user, entity.qualified, t.name)
        ],
    )
