"""Print templates in the studio: an admin edits a print's template beside a preview of
it for one record, then saves it into the instance's templates folder, where it takes
the bundled template's place (resetting removes it again).

The preview is the print's HTML in a frame of its own, under a policy that lets it
have its inline styles and data: images and nothing else (no script, no requests), so
a template being written can neither run code in the studio nor fetch anything.
"""

from __future__ import annotations

from flask import Blueprint, Response, flash, g, redirect, render_template, request, url_for
from markupsafe import escape

from apploom.engine.access import permissions
from apploom.engine.errors import AppLoomError, NotFound, ValidationFailed
from apploom.engine.fields.base import parse_int
from apploom.engine.messages import msg
from apploom.engine.query.filters import Query
from apploom.web.context import runtime
from apploom.web.i18n import current_language, translate
from apploom.web.prints import printer
from apploom.web.session import check_csrf, login_required

bp = Blueprint("studio_prints", __name__, url_prefix="/studio/prints")
bp.before_request(check_csrf)
PRINT = "/<app>/<entity>/<name>"
MAX_SOURCE = 200_000  # characters of one template
PREVIEW_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
    "frame-ancestors 'self'; sandbox"
)


@bp.before_request
@login_required
def admins_only():
    permissions.require_admin(g.user, msg("change print templates"))


@bp.app_template_global()
def print_templates(app: str) -> list[tuple]:
    """(entity, print) for each print of an app's entities, for the studio's app page."""
    found = runtime().apps.apps.get(app)
    entities = found.entities.values() if found else ()
    return [(entity, spec) for entity in entities for spec in entity.prints.values()]


def _saved_path(app: str, entity: str, name: str):
    spec = runtime().prints.spec(f"{app}.{entity}", name)
    return spec, runtime().settings.instance_path / "templates" / spec.path


@bp.get(PRINT)
def editor(app: str, entity: str, name: str):
    return _editor(app, entity, name)


def _editor(app: str, entity: str, name: str, text: str | None = None, error: str = ""):
    """The editor, with ``text`` as written and the ``error`` that kept it from saving."""
    spec, saved = _saved_path(app, entity, name)
    ref = f"{app}.{entity}"
    records = runtime().records.list(g.user, ref, Query(limit=20, fields=("id",))).data
    ids = {r["id"] for r in records}
    titles = runtime().records.titles(g.user, ref, ids, current_language()) if ids else {}
    page = render_template(
        "studio/print.html",
        entity=runtime().apps.entity(ref),
        spec=spec,
        source=printer().source(spec) if text is None else text,
        customised=saved.is_file(),
        records=[(r["id"], titles[r["id"]]) for r in records],
        chosen=parse_int(request.form.get("record")),
        error=error,
    )
    return page, 422 if error else 200


def _source() -> str:
    text = request.form.get("source", "")
    if len(text) > MAX_SOURCE:
        raise ValidationFailed(
            {
                "source": msg(
                    "has {count} characters; at most {most}", count=len(text), most=MAX_SOURCE
                )
            }
        )
    return text


@bp.post(PRINT + "/preview")
def preview(app: str, entity: str, name: str):
    """The template as written, for the record chosen, as the frame beside it shows it."""
    ref = f"{app}.{entity}"
    spec = runtime().prints.spec(ref, name)
    record = parse_int(request.form.get("record"))
    lang = current_language()
    try:
        if record is None:
            raise NotFound(translate("Choose a record to preview it with."))
        records = runtime().prints.records_of(g.user, ref, [record], lang)
        html = printer().render(spec, ref, records, lang, source=_source())
    except AppLoomError as exc:
        html = f'<p style="color:#b00;font-family:sans-serif">{escape(str(exc))}</p>'
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = PREVIEW_POLICY
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


@bp.post(PRINT)
def save(app: str, entity: str, name: str):
    """Keep the template in the instance's folder once it renders for the chosen record."""
    ref = f"{app}.{entity}"
    spec, saved = _saved_path(app, entity, name)
    if request.form.get("reset"):
        saved.unlink(missing_ok=True)
        flash(translate("The bundled template prints again."), "ok")
        return redirect(url_for(".editor", app=app, entity=entity, name=name), code=303)
    record = parse_int(request.form.get("record"))
    try:
        text = _source()
        printer().check(spec, text)
        if record is not None:
            records = runtime().prints.records_of(g.user, ref, [record], current_language())
            printer().render(spec, ref, records, current_language(), source=text)
    except AppLoomError as exc:
        return _editor(app, entity, name, request.form.get("source", ""), str(exc))
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(text, encoding="utf-8")
    flash(translate("Saved."), "ok")
    return redirect(url_for(".editor", app=app, entity=entity, name=name), code=303)
