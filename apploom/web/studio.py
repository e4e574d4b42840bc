"""The studio, for admins: change an app's definition in the browser. Edit its YAML with
the problems shown at their lines as you type, or use the forms that write a change into
it (fields, form layout, list, states, rules, reports, permissions); preview what
applying it does to the schema and the data, and answer what it asks; apply it (one
transaction: definition, schema change, data moves and version); compare any version
with the live one, roll back to it, or merge a new release with the business's changes."""
from __future__ import annotations

import json
import re

import yaml
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

from ..engine import editing, layers, permissions, versions
from ..engine.definitions import (
    Source,
    app_name,
    bundled_sources,
    load_apps,
    with_companions,
)
from ..engine.errors import AppLoomError, DefinitionError, Problem, ValidationFailed
from ..engine.fieldtypes import MAX_INT
from ..engine.install import effects
from ..engine.model import ACTIONS, Section
from ..plugins import install_definitions
from .context import runtime
from .i18n import translate
from .session import check_csrf, login_required

bp = Blueprint("studio", __name__, url_prefix="/studio")
bp.before_request(check_csrf)
VERSION = f"<int(max={MAX_INT}):version>"


@bp.before_request
@login_required
def admins_only():
    permissions.require_admin(g.user, "change app definitions")


@bp.get("/")
def home():
    with runtime().db.read() as conn:
        found = versions.history(conn)
    live = {row["app"]: row for row in found if row["active"]}
    return render_template("studio.html", apps=runtime().apps.ordered(), live=live,
                           counts={a: sum(1 for r in found if r["app"] == a) for a in live})


@bp.get("/<app>")
def app_page(app: str):
    with runtime().db.read() as conn:
        source = versions.source_of(conn, app)
        history = versions.history(conn, app)
    return render_template("studio_app.html", app=app, text=source.text, history=history,
                           problems=None, plan=None, upgrade=_upgrade(app), **_choices(app))


@bp.post("/<app>/upgrade")
def upgrade(app: str):
    """This release's definition merged with the business's changes, for preview."""
    pending = _upgrade(app)
    if pending is None:
        flash(translate("Up to date with this release."), "ok")
        return redirect(url_for("studio.app_page", app=app), code=303)
    merged, conflicts = pending.merged()
    return _preview(app, Source(pending.live.file, merged), conflicts=conflicts,
                    release=True)


def _upgrade(app: str):
    with runtime().db.read() as conn:
        return next((u for u in layers.upgrades(conn, bundled_sources()) if u.app == app),
                    None)


def _choices(app: str) -> dict:
    """What the studio's forms offer: the app's entities, fields, states and the types."""
    rt = runtime()
    return {"definition": rt.apps.apps.get(app), "type_names": sorted(rt.types.names()),
            "targets": sorted(e.qualified for e in rt.apps.entities() if not e.is_child)}


@bp.post("/<app>/check")
def check(app: str):
    """The edited text's problems, each at its line (htmx, as the admin types)."""
    return render_template("_studio_check.html", problems=problems_of(app, edited(app)))


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
        text = _edited_text(form, source.text)
    except ValidationFailed as exc:
        return _preview(app, source, "; ".join(exc.fields.values())), 422
    return _preview(app, Source(source.file, text))


def _edited_text(form, text: str) -> str:
    """The text with the change the submitted form (its ``edit`` button) asks for."""
    kind = form.get("edit")
    if kind == "add_field":
        label = _label(form, "label_en", "label_zh", form.get("name", ""))
        spec: dict = {"type": form.get("type", "text"), "label": label}
        if form.get("required"):
            spec["required"] = True
        options = _list(form.get("options", ""))
        if options:
            spec["options"] = options
        if form.get("to"):
            spec["to"] = form["to"]
        return editing.add_field(text, form.get("entity", ""), _name(form, "name"), spec)
    entity, _, field = form.get("field", "").partition(".")
    if kind == "retire_field":
        return editing.retire_field(text, entity, field)
    if kind == "change_field":
        changes: dict = {}
        if form.get("field_label_en") or form.get("field_label_zh"):
            changes["label"] = _label(form, "field_label_en", "field_label_zh", field)
        if form.get("field_required") in ("yes", "no"):
            changes["required"] = True if form["field_required"] == "yes" else None
        if form.get("field_default", "").strip():
            changes["default"] = form["field_default"].strip()
        if form.get("field_options", "").strip():
            changes["options"] = _list(form["field_options"])
        return editing.change_field(text, entity, field, changes)
    if kind == "add_entity":
        name, first = _name(form, "entity_name"), _name(form, "entity_first_field")
        spec = {"label": _label(form, "entity_label_en", "entity_label_zh", name),
                "icon": form.get("entity_icon", "").strip() or None, "title": f"{{{first}}}",
                "fields": {first: {"type": "text", "required": True}}}
        return editing.add_entity(text, name, {k: v for k, v in spec.items() if v})
    if kind in ("change_state", "change_transition"):
        key = "state" if kind == "change_state" else "transition"
        entity, _, name = form.get(f"{key}_entry", "").partition(".")
        path = ("entities", entity, "workflow", f"{key}s", name)
        return editing.change_entry(text, path, _entry_changes(form, key))
    if kind == "add_state":
        state, into = _name(form, "state_name"), _name(form, "transition")
        label = _label(form, "state_label_en", "state_label_zh", state)
        roles = _list(form.get("roles", ""))
        moves = {into: {"label": {"en": form.get("transition_label") or into,
                                  "zh": form.get("transition_label") or into},
                        "from": form.get("from", ""), "to": state, **(
                            {"roles": roles} if roles else {})}}
        if form.get("then_to"):
            moves[f"{state}_done"] = {"from": state, "to": form["then_to"],
                                      **({"roles": roles} if roles else {})}
        return editing.add_state(text, form.get("state_entity", ""), state,
                                 {"label": label, "colour": form.get("colour", "grey")}, moves)
    if kind == "add_rule":
        return editing.add_rule(text, form.get("rule_entity", ""), _rule(form))
    if kind == "add_report":
        return editing.add_report(text, _name(form, "report_name"), _report(form),
                                  bool(form.get("report_dashboard")))
    raise ValidationFailed({"edit": f"'{kind}' is not a change the studio makes"})


def _entry_changes(form, key: str) -> dict:
    """What the state or transition form changes; empty inputs keep what is there."""
    changes: dict = {}
    if form.get(f"{key}_label_en") or form.get(f"{key}_label_zh"):
        changes["label"] = _label(form, f"{key}_label_en", f"{key}_label_zh", "")
    if key == "state" and form.get("state_colour"):
        changes["colour"] = form["state_colour"]
    if key == "transition":
        for setting in ("roles", "require"):
            if form.get(f"transition_{setting}", "").strip():
                changes[setting] = _list(form[f"transition_{setting}"])
        if form.get("transition_if", "").strip():
            guard = form["transition_if"].strip()
            changes["if"] = None if guard == "-" else guard
    return changes


def _rule(form) -> dict:
    """A rule from the form: when, whether, and one action."""
    rule: dict = {"name": _name(form, "rule_name"), "on": _trigger(form)}
    if form.get("rule_if", "").strip():
        rule["if"] = form["rule_if"].strip()
    action = _new_action(form)
    if action is None:
        raise ValidationFailed({"rule_do": "choose what the rule does"})
    return {**rule, "do": [action]}


def _trigger(form) -> str | dict:
    """When the rule runs, as the definition writes it."""
    trigger, detail = form.get("rule_on", "created"), form.get("rule_on_detail", "").strip()
    if trigger.startswith("transition:"):
        return {"transition": trigger.split(":", 1)[1]}
    if trigger == "updated" and detail:
        return {"updated": _list(detail)}
    if trigger in ("schedule", "webhook"):
        if not detail:
            needed = "a cron expression such as 0 8 * * *" if trigger == "schedule" \
                else "the webhook's name"
            raise ValidationFailed({"rule_on_detail": f"a {trigger} rule needs {needed}"})
        return {trigger: detail}
    return trigger


def _new_action(form) -> dict | None:
    """The action the form's action inputs describe, if one was chosen."""
    action = form.get("rule_do")
    if action == "set":
        return {"set": {_name(form, "set_field"): form.get("set_value", "")}}
    if action == "notify":
        return {"notify": {"roles": _list(form.get("notify_roles", "")),
                           "message": form.get("notify_message", "")}}
    if action == "email":
        return {"email": {k: form.get(f"email_{k}", "") for k in ("to", "subject", "body")}}
    if action == "transition":
        return {"transition": _name(form, "transition_name")}
    return None


def _report(form) -> dict:
    """A report from the form: what to count or sum, grouped how, drawn how."""
    kind = form.get("measure_kind", "count")
    source = form.get("measure_field", "").strip() or "*"
    report = {"label": _label(form, "report_label_en", "report_label_zh",
                              form.get("report_name", "")),
              "entity": form.get("report_entity", ""),
              "rows": _list(form.get("report_rows", "")),
              "columns": _list(form.get("report_columns", "")),
              "filters": _list(form.get("report_filters", "")),
              "measures": {"value": {kind: source, "label": _label(
                  form, "measure_label_en", "measure_label_zh", kind)}},
              "chart": form.get("report_chart", "table")}
    return {k: v for k, v in report.items() if v not in ([], "")}


def _list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _label(form, en: str, zh: str, fallback: str) -> dict:
    english = form.get(en) or fallback
    return {"en": english, "zh": form.get(zh) or english}


def _name(form, key: str) -> str:
    name = form.get(key, "").strip()
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", name):
        raise ValidationFailed({key: f"'{name}' must be lower-case letters, digits and _"})
    return name


@bp.get("/<app>/<entity>/form")
def form_layout(app: str, entity: str):
    """The form's sections, rows and fields, to rearrange by dragging."""
    found = runtime().apps.apps[app].entities[entity]
    names = list(found.fields)
    sections = found.form or (Section(found.label, tuple(
        tuple(names[i:i + 2]) for i in range(0, len(names), 2))),)
    placed = {name for section in sections for row in section.rows for name in row}
    return render_template("studio_form.html", app=app, entity=found, sections=sections,
                           unplaced=[f for f in found.fields.values() if f.name not in placed])


@bp.post("/<app>/<entity>/form")
def save_form_layout(app: str, entity: str):
    """The dragged layout written into the definition, for the usual preview."""
    source = _live(app)
    try:
        sections = json.loads(request.form.get("layout", ""))
        layout = [{"section": {"en": s["en"] or s["zh"] or "", "zh": s["zh"] or s["en"] or ""},
                   "rows": [list(map(str, row)) for row in s["rows"] if row]}
                  for s in sections if any(s["rows"])]
    except (ValueError, KeyError, TypeError):
        return _preview(app, source, "The layout could not be read; try again."), 422
    text = editing.set_block(source.text, ("entities", entity, "form"), layout)
    return _preview(app, Source(source.file, text))


@bp.get("/<app>/<entity>/list")
def list_settings(app: str, entity: str):
    found = runtime().apps.apps[app].entities[entity]
    return render_template("studio_list.html", app=app, entity=found)


@bp.post("/<app>/<entity>/list")
def save_list_settings(app: str, entity: str):
    """The list's columns, filters, search and sort, written into the definition."""
    source = _live(app)
    chosen = {key: [n.strip() for n in request.form.get(key, "").split(",") if n.strip()]
              for key in ("columns", "filters", "search", "sort")}
    text = editing.set_block(source.text, ("entities", entity, "list"),
                             {k: v for k, v in chosen.items() if v})
    return _preview(app, Source(source.file, text))


@bp.get("/<app>/<entity>/rules/<int:index>")
def rule_settings(app: str, entity: str, index: int):
    """One rule as a form: when it runs, its condition, each action's settings."""
    found = runtime().apps.apps[app].entities.get(entity) or abort(404)
    rule = _rule_at(_live(app).text, entity, index)
    return render_template("studio_rule.html", app=app, entity=found, index=index, rule=rule,
                           on=_trigger_choice(rule.get("on", "created")),
                           flows=[found] if found.workflow else [])


@bp.post("/<app>/<entity>/rules/<int:index>")
def save_rule(app: str, entity: str, index: int):
    """The rule rewritten from its form (or removed), for the usual preview."""
    source, form = _live(app), request.form
    try:
        rule = _rule_at(source.text, entity, index)
        if form.get("remove"):
            text = editing.change_rule(source.text, entity, index, None)
        else:
            text = editing.change_rule(source.text, entity, index, _changed_rule(form, rule))
    except ValidationFailed as exc:
        return _preview(app, source, "; ".join(exc.fields.values())), 422
    return _preview(app, Source(source.file, text))


def _rule_at(text: str, entity: str, index: int) -> dict:
    rules = editing.rules_of(text, entity)
    if not 0 <= index < len(rules):
        abort(404)
    return {"name": f"rule_{index + 1}", **rules[index]}


def _trigger_choice(on: str | dict) -> tuple[str, str]:
    """The trigger's choice in the form's select, and its detail (fields, cron, name)."""
    if isinstance(on, str):
        return on, ""
    kind, detail = next(iter(on.items()))
    if kind == "transition":
        return f"transition:{detail}", ""
    return kind, ", ".join(detail) if isinstance(detail, list) else str(detail)


def _changed_rule(form, rule: dict) -> dict:
    """The rule with the form's changes: trigger, condition, on or off, each action's
    settings (a removed one dropped), and a new action at the end if one was chosen."""
    changed: dict = {"name": rule["name"], "on": _trigger(form)}
    if form.get("rule_if", "").strip():
        changed["if"] = form["rule_if"].strip()
    if "where" in rule:
        changed["where"] = rule["where"]
    if not form.get("rule_enabled"):
        changed["enabled"] = False
    actions = [{kind: _edited(form, f"a{i}", params)}
               for i, action in enumerate(rule.get("do") or [])
               if not form.get(f"a{i}:remove") for kind, params in action.items()]
    added = _new_action(form)
    actions += [added] if added else []
    if not actions:
        raise ValidationFailed({"do": "a rule needs an action; remove the rule instead"})
    return {**changed, "do": actions}


def _edited(form, key: str, value):
    """An action's setting as the form changed it, keeping its kind: a list stays a list,
    a number a number. Settings the form does not show (lists of mappings) are kept."""
    if isinstance(value, dict):
        return {k: _edited(form, f"{key}.{k}", v) for k, v in value.items()}
    if key not in form:
        return value
    typed = form[key].strip()
    if isinstance(value, list):
        return _list(typed)
    if isinstance(value, bool | int | float) and typed:
        try:
            parsed = yaml.safe_load(typed)
        except yaml.YAMLError:
            parsed = None
        if not isinstance(parsed, bool | int | float):
            raise ValidationFailed({key: f"'{typed}' is not a {type(value).__name__}"})
        return parsed
    return typed


@bp.get("/<app>/permissions")
def permission_settings(app: str):
    """The app's matrix, or an entity's own (which, when set, replaces the app's for it)."""
    found = runtime().apps.apps[app]
    entity = found.entities.get(request.args.get("entity", ""))
    given = entity.permissions if entity else found.permissions
    return render_template("studio_permissions.html", app=found, actions=ACTIONS,
                           entity=entity, given=given, roles=_roles(found))


@bp.post("/<app>/permissions")
def save_permission_settings(app: str):
    """Who may do what in the app, or with one entity, as ticked in the matrix."""
    found, source = runtime().apps.apps[app], _live(app)
    entity = request.form.get("entity", "")
    if entity and entity not in found.entities:
        return _preview(app, source, f"'{entity}' is not an entity of {app}"), 422
    path = ("entities", entity, "permissions") if entity else ("permissions",)
    if entity and request.form.get("inherit"):
        text = editing.remove_block(source.text, path)
        return _preview(app, Source(source.file, text))
    granted = {}
    for role in _roles(found):
        scopes = {a: request.form.get(f"{role}:{a}") for a in ACTIONS}
        chosen = [a if scope == "all" else f"{a}:own" for a, scope in scopes.items()
                  if scope in ("all", "own")]
        if chosen:
            granted[role] = "all" if chosen == list(ACTIONS) else chosen
    text = editing.set_block(source.text, path, granted)
    return _preview(app, Source(source.file, text))


def _roles(app) -> list[str]:
    """The app's roles, and any role its permissions name besides."""
    named = set(app.permissions).union(*(e.permissions for e in app.entities.values()))
    return sorted(set(app.roles) | named)


def _live(app: str) -> Source:
    with runtime().db.read() as conn:
        return versions.source_of(conn, app)


@bp.post("/<app>/apply")
def apply(app: str):
    source = edited(app)
    pending = _upgrade(app) if request.form.get("base") == "release" else None
    try:
        result = install_definitions(runtime().db, [source], runtime().settings,
                                     user_id=g.user.id,
                                     comment=request.form.get("comment") or None,
                                     bases={app: pending.new_base.text} if pending else None,
                                     **answers())
    except AppLoomError as exc:
        return _preview(app, source, str(exc)), 422
    done = result.versions.get(app)
    flash(translate("Saved.") + (f" v{done}" if done else ""), "ok")
    return redirect(url_for("studio.app_page", app=app), code=303)


@bp.get(f"/<app>/versions/{VERSION}")
def version(app: str, version: int):
    """One version: its diff against the live one, and the rollback's preview."""
    with runtime().db.read() as conn:
        old, live = versions.source_of(conn, app, version), versions.source_of(conn, app)
    difference = versions.diff(live, old, f"{app} (live)", f"{app} v{version}")
    return _preview(app, old, diff=difference, version=version)


@bp.post(f"/<app>/versions/{VERSION}/rollback")
def rollback(app: str, version: int):
    with runtime().db.read() as conn:
        old = versions.source_of(conn, app, version)
    try:
        result = install_definitions(runtime().db, [old], runtime().settings,
                                     user_id=g.user.id, comment=f"rollback to v{version}",
                                     **answers())
    except AppLoomError as exc:
        return _preview(app, old, str(exc), version=version), 422
    flash(translate("Saved.") + f" v{result.versions.get(app, version)}", "ok")
    return redirect(url_for("studio.app_page", app=app), code=303)


def answers() -> dict:
    """The admin's answers to the preview's questions about existing data."""
    chosen = {kind: {key.split(":", 1)[1]: value for key, value in request.form.items()
                     if key.startswith(f"{kind}:") and value != ""}
              for kind in ("move", "fill")}
    return {"moves": chosen["move"], "fills": chosen["fill"]}


def edited(app: str) -> Source:
    with runtime().db.read() as conn:
        live = versions.source_of(conn, app)
    return Source(live.file, request.form.get("text", ""))


def problems_of(app: str, source: Source) -> list:
    """Every problem of the edited definition, read with the other live apps."""
    rt = runtime()   # it already knows every plugin's field types and actions
    with rt.db.read() as conn:
        live = versions.active_sources(conn)
    try:
        apps = load_apps(with_companions([source], live), rt.types,
                         frozenset(rt.automation.actions))
    except DefinitionError as exc:
        return list(exc.problems)
    if app not in apps.apps or app_name(source) != app:
        return [Problem(source.file, "app", 1, f"this is the studio of '{app}': the "
                                               f"definition must say 'app: {app}'")]
    return list(apps.warnings)


def _preview(app: str, source: Source, error: str | None = None, *, diff: str | None = None,
             version: int | None = None, conflicts: list | None = None,
             release: bool = False):
    rt = runtime()
    problems = problems_of(app, source)
    plan, changes, asked = None, [], []
    try:
        result = install_definitions(rt.db, [source], rt.settings, dry_run=True)
        plan, changes, asked = result.plan, effects(rt.db, result.plan), result.questions
    except AppLoomError as exc:
        error = error or str(exc)
    with rt.db.read() as conn:
        history = versions.history(conn, app)
    return render_template("studio_app.html", app=app, text=source.text, history=history,
                           problems=problems, plan=plan, changes=changes, error=error,
                           diff=diff, version=version, questions=asked,
                           conflicts=conflicts or [], release=release, **_choices(app))
