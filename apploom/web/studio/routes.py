"""The studio, for admins: change an app's definition in the browser. Edit its YAML with
the problems shown at their lines as you type, or use the forms that write a change into
it (fields, form layout, list, states, rules, reports, permissions); preview what
applying it does to the schema and the data, and answer what it asks; apply it (one
transaction: definition, schema change, data moves and version); compare any version
with the live one, roll back to it, or merge a new release with the business's changes."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)

from apploom.engine.access import permissions
from apploom.engine.definitions.loading import (
    Source,
    app_name,
    bundled_sources,
    load_apps,
    with_companions,
)
from apploom.engine.definitions.model import ACTIONS
from apploom.engine.definitions.reading import read_document
from apploom.engine.errors import AppLoomError, DefinitionError, Problem, ValidationFailed
from apploom.engine.fields.base import MAX_INT
from apploom.engine.messages import joined, message_of, msg
from apploom.engine.reports.definition import CHARTS, KINDS
from apploom.engine.versions import applied, layers, text_edits
from apploom.engine.versions.install import effects
from apploom.plugins import install_definitions
from apploom.web.context import runtime
from apploom.web.i18n import current_language, translate
from apploom.web.reports import RANGE_NAMES
from apploom.web.session import check_csrf, login_required
from apploom.web.studio import designer, rendered
from apploom.web.studio import forms as forms

bp = Blueprint("studio", __name__, url_prefix="/studio")
bp.before_request(check_csrf)
VERSION = f"<int(max={MAX_INT}):version>"


@bp.before_request
@login_required
def admins_only():
    permissions.require_admin(g.user, msg("change app definitions"))


@bp.get("/")
def home():
    with runtime().db.read() as conn:
        found = applied.history(conn)
    live = {row["app"]: row for row in found if row["active"]}
    return render_template(
        "studio/index.html",
        apps=runtime().apps.ordered(),
        live=live,
        counts={a: sum(1 for r in found if r["app"] == a) for a in live},
    )


@bp.get("/<app>")
def app_page(app: str):
    """The designer: the app's entities, and a workflow drawn, to click and change."""
    definition = _app(app)
    with runtime().db.read() as conn:
        history = applied.history(conn, app)
    return render_template(
        "studio/designer.html",
        app=app,
        definition=definition,
        history=history,
        upgrade=_upgrade(app),
        **designer.view(definition, request.args, _roles(definition), current_language()),
    )


@bp.post("/<app>/<entity>/workflow")
def save_workflow(app: str, entity: str):
    """A status or transition changed or added on the diagram, for the usual preview,
    with the lines it changes."""
    found = _app(app).entities.get(entity)
    if found is None or found.workflow is None:
        abort(404)
    source = _live(app)
    try:
        text = designer.edited_text(request.form, source.text, entity, found.workflow)
        changed = Source(source.file, text)
    except ValidationFailed as exc:
        return _preview(app, source, joined(list(exc.fields.values())), designed=True), 422
    difference = applied.diff(source, changed, f"{app} (live)", f"{app} (changed)")
    said = designer.described(found.workflow, text, entity)
    return _preview(app, changed, diff=difference, designed=True, said=said)


@bp.get("/<app>/yaml")
def yaml_page(app: str):
    """The expert's tab: the whole definition as YAML, and the forms that edit it."""
    with runtime().db.read() as conn:
        source = applied.source_of(conn, app)
        history = applied.history(conn, app)
    return render_template(
        "studio/app.html",
        app=app,
        text=source.text,
        history=history,
        problems=None,
        plan=None,
        upgrade=_upgrade(app),
        **_choices(app),
    )


@bp.post("/<app>/upgrade")
def upgrade(app: str):
    """This release's definition merged with the business's changes, for preview."""
    pending = _upgrade(app)
    if pending is None:
        flash(translate("Up to date with this release."), "ok")
        return redirect(url_for("studio.app_page", app=app), code=303)
    merged, conflicts = pending.merged()
    return _preview(app, Source(pending.live.file, merged), conflicts=conflicts, release=True)


def _upgrade(app: str):
    with runtime().db.read() as conn:
        return next((u for u in layers.upgrades(conn, bundled_sources()) if u.app == app), None)


def _choices(app: str) -> dict:
    """What the studio's forms offer: the app's entities, fields, states and the types."""
    rt = runtime()
    return {
        "definition": rt.apps.apps.get(app),
        "type_names": rt.types.names(),
        "targets": sorted(e.qualified for e in rt.apps.entities() if not e.is_child),
    }


@bp.post("/<app>/check")
def check(app: str):
    """The edited text's problems, each at its line (htmx, as the admin types)."""
    return render_template("studio/_check.html", problems=problems_of(app, edited(app)))


@bp.post("/<app>/preview")
def preview(app: str):
    """What applying the edited text would do: the migration plan, with counts."""
    return _preview(app, edited(app))


@bp.post("/<app>/edit")
def edit(app: str):
    """A change made with a form (an entity, a field, a state or transition, a rule, a
    report), written into the definition's text and previewed like a hand edit."""
    form, source = request.form, edited(app)
    try:
        text = forms.edited_text(form, source.text)
    except ValidationFailed as exc:
        return _preview(app, source, "; ".join(exc.fields.values())), 422
    return _preview(app, Source(source.file, text))


@bp.app_template_filter("yaml_flow")
def yaml_flow(value) -> str:
    """A setting (a filter) as the admin would type it back: YAML on one line."""
    return text_edits.flow(value) if value else ""


@bp.get("/<app>/reports/<name>")
def report_settings(app: str, name: str):
    """One report as a form: title, grouping, filters, each measure, the chart."""
    definition = _app(app)
    report = _report_at(_live(app).text, name)
    return render_template(
        "studio/report.html",
        app=app,
        name=name,
        report=report,
        definition=definition,
        kinds=KINDS,
        charts=CHARTS,
        tiled=name in {t.report for t in definition.dashboard.tiles},
    )


@bp.post("/<app>/reports/<name>")
def save_report(app: str, name: str):
    """The report rewritten from its form (or removed, with its tile), for the preview."""
    source, form = _live(app), request.form
    try:
        report = (
            None
            if form.get("remove")
            else forms.changed_report(form, _report_at(source.text, name))
        )
        text = text_edits.change_report(
            source.text, name, report, bool(form.get("report_dashboard"))
        )
    except ValidationFailed as exc:
        return _preview(app, source, "; ".join(exc.fields.values())), 422
    return designed_preview(app, source, text)


def _report_at(text: str, name: str) -> dict:
    return (read_document("live.yaml", text).data.get("reports") or {}).get(name) or abort(404)


@bp.get("/<app>/dashboard")
def dashboard_settings(app: str):
    """The dashboard's tiles in order, with their widths, and the shared date filter."""
    definition = _app(app)
    return render_template(
        "studio/dashboard.html",
        app=app,
        definition=definition,
        reports={r.name: r for r in definition.reports},
        ranges=RANGE_NAMES,
    )


@bp.post("/<app>/dashboard")
def save_dashboard(app: str):
    source = _live(app)
    doc = read_document("live.yaml", source.text).data
    try:
        dashboard = forms.changed_dashboard(
            request.form, doc.get("dashboard") or {}, list(doc.get("reports") or {})
        )
    except ValidationFailed as exc:
        return _preview(app, source, "; ".join(exc.fields.values())), 422
    return designed_preview(app, source, text_edits.set_dashboard(source.text, dashboard))


@bp.get("/<app>/permissions")
def permission_settings(app: str):
    """The app's matrix, or an entity's own (which, when set, replaces the app's for it)."""
    found = _app(app)
    entity = found.entities.get(request.args.get("entity", ""))
    given = entity.permissions if entity else found.permissions
    return render_template(
        "studio/permissions.html",
        app=found,
        actions=ACTIONS,
        entity=entity,
        given=given,
        roles=_roles(found),
    )


@bp.post("/<app>/permissions")
def save_permission_settings(app: str):
    """Who may do what in the app, or with one entity, as ticked in the matrix."""
    found, source = _app(app), _live(app)
    entity = request.form.get("entity", "")
    if entity and entity not in found.entities:
        return _preview(app, source, f"'{entity}' is not an entity of {app}"), 422
    path = ("entities", entity, "permissions") if entity else ("permissions",)
    if entity and request.form.get("inherit"):
        text = text_edits.remove_block(source.text, path)
        return _preview(app, Source(source.file, text))
    granted = {}
    for role in _roles(found):
        scopes = {a: request.form.get(f"{role}:{a}") for a in ACTIONS}
        chosen = [
            a if scope == "all" else f"{a}:own"
            for a, scope in scopes.items()
            if scope in ("all", "own")
        ]
        if chosen:
            granted[role] = "all" if chosen == list(ACTIONS) else chosen
    if entity and not granted:  # an empty matrix would read as "as the app says"
        return _preview(
            app,
            source,
            f"Nobody may do anything with {entity}: give some "
            "role a right, or use the app's permissions",
        ), 422
    text = text_edits.set_block(source.text, path, granted)
    return _preview(app, Source(source.file, text))


def _roles(app) -> list[str]:
    """The app's roles, and any role its permissions name besides."""
    named = set(app.permissions).union(*(e.permissions for e in app.entities.values()))
    return sorted(set(app.roles) | named)


def _app(app: str):
    return runtime().apps.apps.get(app) or abort(404)


def _live(app: str) -> Source:
    with runtime().db.read() as conn:
        return applied.source_of(conn, app)


@bp.post("/<app>/apply")
def apply(app: str):
    source = edited(app)
    pending = _upgrade(app) if request.form.get("base") == "release" else None
    try:
        result = install_definitions(
            runtime().db,
            [source],
            runtime().settings,
            user_id=g.user.id,
            comment=request.form.get("comment") or None,
            bases={app: pending.new_base.text} if pending else None,
            **answers(),
        )
    except AppLoomError as exc:
        return _preview(app, source, str(exc)), 422
    done = result.versions.get(app)
    flash(translate("Saved.") + (f" v{done}" if done else ""), "ok")
    return redirect(url_for("studio.app_page", app=app), code=303)


@bp.get(f"/<app>/versions/{VERSION}")
def version(app: str, version: int):
    """One version: its diff against the live one, and the rollback's preview."""
    with runtime().db.read() as conn:
        old, live = applied.source_of(conn, app, version), applied.source_of(conn, app)
    difference = applied.diff(live, old, f"{app} (live)", f"{app} v{version}")
    return _preview(app, old, diff=difference, version=version)


@bp.post(f"/<app>/versions/{VERSION}/rollback")
def rollback(app: str, version: int):
    with runtime().db.read() as conn:
        old = applied.source_of(conn, app, version)
    try:
        result = install_definitions(
            runtime().db,
            [old],
            runtime().settings,
            user_id=g.user.id,
            comment=f"rollback to v{version}",
            **answers(),
        )
    except AppLoomError as exc:
        return _preview(app, old, str(exc), version=version), 422
    flash(translate("Saved.") + f" v{result.versions.get(app, version)}", "ok")
    return redirect(url_for("studio.app_page", app=app), code=303)


def answers() -> dict:
    """The admin's answers to the preview's questions about existing data."""
    chosen = {
        kind: {
            key.split(":", 1)[1]: value
            for key, value in request.form.items()
            if key.startswith(f"{kind}:") and value != ""
        }
        for kind in ("move", "fill")
    }
    return {"moves": chosen["move"], "fills": chosen["fill"]}


def edited(app: str) -> Source:
    with runtime().db.read() as conn:
        live = applied.source_of(conn, app)
    return Source(live.file, request.form.get("text", ""))


def problems_of(app: str, source: Source) -> list:
    """Every problem of the edited definition, read with the other live apps."""
    rt = runtime()  # it already knows every plugin's field types and actions
    with rt.db.read() as conn:
        live = applied.active_sources(conn)
    try:
        apps = load_apps(with_companions([source], live), rt.types, rt.automation.actions)
    except DefinitionError as exc:
        return list(exc.problems)
    if app not in apps.apps or app_name(source) != app:
        return [
            Problem(
                source.file,
                "app",
                1,
                msg("this is the studio of '{app}': the definition must say 'app: {app}'", app=app),
            )
        ]
    return list(apps.warnings)


def designed_preview(app: str, live: Source, text: str, said: list[str] | None = None):
    """The usual preview of a change made on the designer's pages: in words, if ``said``,
    and as a diff against the live version."""
    changed = Source(live.file, text)
    difference = applied.diff(live, changed, f"{app} (live)", f"{app} (changed)")
    return _preview(app, changed, diff=difference, designed=True, said=said)


def _preview(
    app: str,
    source: Source,
    error: str | None = None,
    *,
    diff: str | None = None,
    version: int | None = None,
    conflicts: list | None = None,
    release: bool = False,
    designed: bool = False,
    said: list[str] | None = None,
):
    rt = runtime()
    problems = problems_of(app, source)
    plan, changes, asked = None, [], []
    try:
        result = install_definitions(rt.db, [source], rt.settings, dry_run=True)
        plan, changes, asked = result.plan, effects(rt.db, result.plan), result.questions
    except AppLoomError as exc:  # a definition's problems are listed by the editor
        refused = exc.headline if isinstance(exc, DefinitionError) else message_of(exc)
        error = error or translate(refused)
    with rt.db.read() as conn:
        history = applied.history(conn, app)
    return render_template(
        "studio/app.html",
        app=app,
        text=source.text,
        history=history,
        problems=problems,
        plan=plan,
        changes=changes,
        error=error,
        diff=diff,
        version=version,
        questions=asked,
        conflicts=conflicts or [],
        release=release,
        designed=designed,
        said=said or [],
        screens=rendered.changed_screens(app, source),
        **_choices(app),
    )
