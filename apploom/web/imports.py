"""The import screens: upload a CSV or Excel file (or first download a blank one to fill),
map its columns to fields (as the last file of its shape was, else guessed), set values
for every record and whether missing customers are created, try a dry run, import, and
watch the progress bar; the engine does the work."""

from __future__ import annotations

import io

from flask import (
    Blueprint,
    current_app,
    g,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)

from apploom.engine.errors import ValidationFailed
from apploom.engine.fields.base import MAX_INT
from apploom.engine.imports.service import Options
from apploom.engine.imports.templates import TEMPLATE_TYPES
from apploom.engine.jobs.service import ACTIVE
from apploom.engine.messages import msg
from apploom.web.context import runtime
from apploom.web.i18n import current_language
from apploom.web.session import check_csrf, login_required

bp = Blueprint("imports", __name__)
bp.before_request(check_csrf)
JOB = f"/imports/<int(max={MAX_INT}):job_id>"
CONSTANT_ROWS = 3  # pairs of field and value offered on the mapping screen


@bp.get("/a/<app>/<entity>/import")
@login_required
def upload_form(app: str, entity: str):
    found = runtime().records.entity(f"{app}.{entity}")
    return render_template("imports/import.html", entity=found, job=None, errors={})


@bp.get("/a/<app>/<entity>/import/template.<any(xlsx, csv):kind>")
@login_required
def template(app: str, entity: str, kind: str):
    """A blank file to fill, headed in the reader's language."""
    name, data = runtime().imports.template(g.user, f"{app}.{entity}", kind, current_language())
    return send_file(
        io.BytesIO(data), mimetype=TEMPLATE_TYPES[kind], as_attachment=True, download_name=name
    )


@bp.post("/a/<app>/<entity>/import")
@login_required
def upload(app: str, entity: str):
    found = runtime().records.entity(f"{app}.{entity}")
    sent = request.files.get("file")
    try:
        if sent is None or not sent.filename:
            raise ValidationFailed({"file": msg("choose a .csv or .xlsx file")})
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
    constants = {
        request.form[f"constant-{i}"]: request.form.get(f"constant-value-{i}", "")
        for i in range(CONSTANT_ROWS)
        if request.form.get(f"constant-{i}")
    }
    options = Options.of(
        request.form.get("then") or None, constants, request.form.getlist("create")
    )
    try:
        jobs.start(
            g.user,
            job_id,
            {c: t for c, t in mapping.items() if t},
            dry_run=request.form.get("run") == "dry",
            options=options,
        )
    except ValidationFailed as exc:
        chosen = {"mapping": mapping, "constants": constants, "create": sorted(options.create)}
        return _page({**found, **chosen, "remembered": None}, exc.fields), 422
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
    importer = rt.imports.importer
    entity = rt.records.entity(found["entity"])
    remembered = None if found["mapping"] else found.get("remembered")
    chosen = remembered or found
    mapping = chosen["mapping"] or importer.guess(entity, found["header"])
    transitions = entity.workflow.transitions.values() if entity.workflow else ()
    constants = list((chosen.get("constants") or {}).items())
    return render_template(
        "imports/import.html",
        entity=entity,
        job=found,
        mapping=mapping,
        remembered=remembered is not None,
        then=chosen.get("then"),
        constants=constants + [("", "")] * (CONSTANT_ROWS - len(constants)),
        create=set(chosen.get("create") or ()),
        targets=importer.targets(entity),
        own_fields=importer.constant_targets(entity),
        refs=importer.creatable(entity),
        errors=errors or {},
        transitions=[
            t for t in transitions if rt.transitions.may(g.user, entity.qualified, t.name)
        ],
    )
