"""A record's screens: its page with the timeline, and the form that creates or
edits it, recomputing formulas as the user types."""

from __future__ import annotations

import time

from flask import Blueprint, flash, g, redirect, render_template, request, send_file, url_for

from apploom.engine.access import permissions
from apploom.engine.definitions.model import Entity, Label, Section
from apploom.engine.errors import Conflict, Forbidden, ValidationFailed
from apploom.engine.fields.base import MAX_INT, parse_int
from apploom.engine.query.filters import SYSTEM_FIELDS
from apploom.engine.records.related import related_panels
from apploom.web.context import runtime
from apploom.web.display import change_titles, key_titles, ref_titles, show
from apploom.web.errors import refusal
from apploom.web.formdata import FormInput, editable, read_form
from apploom.web.i18n import current_language, translate
from apploom.web.lists import allowed
from apploom.web.session import check_csrf, login_required

bp = Blueprint("records", __name__)
bp.before_request(check_csrf)


def layout(entity: Entity) -> tuple[Section, ...]:
    """The definition's form layout, then any field it does not place (one just added in
    the studio, say), two to a row; without a layout, every field."""
    placed = {name for section in entity.form for row in section.rows for name in row}
    names = [name for name in entity.fields if name not in placed]
    rows = tuple(tuple(names[i : i + 2]) for i in range(0, len(names), 2))
    if not rows:
        return entity.form
    return (*entity.form, Section(Label("More", "更多") if entity.form else Label("", ""), rows))


def all_titles(entity: Entity, values: dict) -> dict:
    """Ref titles for a record's fields and for its rows' fields, keyed by table name."""
    titles: dict[str, dict] = ref_titles(entity, [values])
    for fld in entity.table_fields():
        titles[fld.name] = ref_titles(runtime().apps.entity(fld.child), values.get(fld.name) or [])
    return titles


def render_form(
    entity: Entity,
    values: dict,
    *,
    computed: dict,
    errors: dict | None = None,
    record_id: int | None = None,
    version: int | None = None,
    conflict: dict | None = None,
    states: dict | None = None,
    status: int = 200,
):
    """``states``: the conditioned fields' states as the record service tells them
    (``lines.0.serial`` for a row's), shown as the page loads; the preview keeps them."""
    rows = {f.name: list(values.get(f.name) or []) for f in entity.table_fields()}
    for fld in entity.table_fields():
        if not rows[fld.name] and (fld.required or fld.min_rows):
            rows[fld.name] = [{}]
    return render_template(
        "records/form.html",
        entity=entity,
        values=values,
        rows=rows,
        computed=computed,
        errors=errors or {},
        record_id=record_id,
        version=version,
        conflict=conflict,
        sections=layout(entity),
        editable={f.name for f in editable(entity, runtime().types, g.user)},
        titles=all_titles(entity, {**values, **rows}),
        show=show,
        children={f.name: runtime().apps.entity(f.child) for f in entity.table_fields()},
        row_number=lambda: time.time_ns(),
        states=states or {},
        hidden={key for key, state in (states or {}).items() if not state["visible"]},
    ), status


def _form_input(entity: Entity, store: bool = True) -> FormInput:
    attachments = runtime().attachments

    def store_file(upload) -> str | None:
        return (
            attachments.store(g.user, upload.stream, upload.filename, upload.mimetype)["id"]
            if store
            else None
        )

    return read_form(
        entity, runtime().apps, runtime().types, g.user, request.form, request.files, store_file
    )


RECORD = f"/a/<app>/<entity>/<int(max={MAX_INT}):record_id>"


@bp.route("/a/<app>/<entity>/new", methods=["GET", "POST"])
@login_required
def new(app: str, entity: str):
    rt = runtime()
    found = rt.records.entity(f"{app}.{entity}")
    if request.method == "GET":
        blank_rows: dict[str, list[dict]] = {
            f.name: [{}] for f in found.table_fields() if f.required or f.min_rows
        }
        preview = rt.records.preview(g.user, found.qualified, blank_rows)
        draft = preview["record"]
        return render_form(found, draft, computed=draft, states=preview["states"])
    given = _form_input(found)
    try:
        record = rt.records.create(g.user, found.qualified, given.data)
    except ValidationFailed as exc:
        preview = rt.records.preview(g.user, found.qualified, given.data)
        return render_form(
            found,
            given.data,
            computed=preview["record"],
            errors=exc.fields,
            states=preview["states"],
            status=422,
        )
    flash(translate("Saved."), "ok")
    return redirect(
        url_for("records.view", app=app, entity=entity, record_id=record["id"]), code=303
    )


@bp.route(RECORD + "/edit", methods=["GET", "POST"])
@login_required
def edit(app: str, entity: str, record_id: int):
    rt = runtime()
    found = rt.records.entity(f"{app}.{entity}")
    if request.method == "GET":
        permissions.require(rt.apps, g.user, found, "update")
        record = rt.records.get(g.user, found.qualified, record_id)
        return render_form(
            found,
            record,
            computed=record,
            record_id=record_id,
            version=record["version"],
            states=rt.records.states_of(g.user, found.qualified, record_id),
        )
    given = _form_input(found)
    version = parse_int(request.form.get("version"))
    try:
        rt.records.update(g.user, found.qualified, record_id, given.data, version=version)
    except ValidationFailed as exc:
        preview = rt.records.preview(g.user, found.qualified, given.data, record_id)
        return render_form(
            found,
            given.data,
            computed=preview["record"],
            errors=exc.fields,
            record_id=record_id,
            version=version,
            states=preview["states"],
            status=422,
        )
    except Conflict as exc:
        theirs = exc.current or {}
        mine = rt.records.preview(g.user, found.qualified, given.data, record_id)["record"]
        differ = {
            name: theirs.get(name)
            for name in given.data
            if name in theirs
            and theirs.get(name) != mine.get(name)
            and not found.fields[name].holds_rows
        }
        return render_form(
            found,
            given.data,
            computed=theirs,
            record_id=record_id,
            version=theirs.get("version"),
            conflict=differ,
            status=409,
        )
    flash(translate("Saved."), "ok")
    return redirect(url_for("records.view", app=app, entity=entity, record_id=record_id), code=303)


@bp.post("/a/<app>/<entity>/preview")
@login_required
def preview(app: str, entity: str):
    """Formula fields recomputed from the form as typed, swapped in out of band, and the
    conditioned fields' states (shown, required, read-only) for app.js to show."""
    rt = runtime()
    found = rt.records.entity(f"{app}.{entity}")
    given = _form_input(found, store=False)
    record_id = parse_int(request.args.get("id"))
    result = rt.records.preview(g.user, found.qualified, given.data, record_id)
    return render_template(
        "records/_computed.html",
        entity=found,
        record=result["record"],
        numbers=given.row_numbers,
        states=form_states(result["states"], given.row_numbers),
        show=show,
        children={f.name: rt.apps.entity(f.child) for f in found.table_fields()},
    )


def form_states(states: dict, numbers: dict[str, list[int]]) -> dict:
    """The record service's states keyed by the form's input names: a row's
    ``lines.0.serial`` is ``lines-<its number on the form>-serial``."""
    named = {}
    for key, state in states.items():
        table, _, rest = key.partition(".")
        if rest:
            position, _, name = rest.partition(".")
            key = f"{table}-{numbers[table][int(position)]}-{name}"
        named[key] = state
    return named


@bp.get("/a/<app>/<entity>/row/<table>")
@login_required
def new_row(app: str, entity: str, table: str):
    found = runtime().records.entity(f"{app}.{entity}")
    fld = found.fields.get(table)
    if fld is None or not fld.holds_rows:
        return render_template("error.html", message=translate("Not found")), 404
    child = runtime().apps.entity(fld.child)
    draft = runtime().records.preview(
        g.user, found.qualified, {table: [{}]}, parse_int(request.args.get("id"))
    )["record"]
    return render_template(
        "records/_row.html",
        table=table,
        child=child,
        row=draft[table][0],
        number=time.time_ns(),
        errors={},
        position=None,
        titles={},
        show=show,
    )


@bp.get(RECORD)
@login_required
def view(app: str, entity: str, record_id: int):
    rt = runtime()
    found = rt.records.entity(f"{app}.{entity}")
    record = rt.records.get(g.user, found.qualified, record_id)
    timeline = rt.records.timeline(g.user, found.qualified, record_id)
    transitions = rt.transitions.allowed(g.user, found.qualified, record_id)
    states = rt.records.states_of(g.user, found.qualified, record_id)
    return render_template(
        "records/record.html",
        hidden={name for name, state in states.items() if not state["visible"]},
        entity=found,
        record=record,
        timeline=timeline,
        timeline_titles=change_titles(found, timeline),
        sections=layout(found),
        titles=all_titles(found, record),
        show=show,
        can={**allowed(found), "delete": allowed(found)["delete"] and not found.kept(record)},
        transitions=transitions,
        panels=[
            {
                "panel": p,
                "titles": ref_titles(p.entity, p.records),
                "columns": [
                    p.entity.fields.get(c) or SYSTEM_FIELDS[c]
                    for c in p.entity.list.columns
                    if c != p.field.name
                ],
            }
            for p in related_panels(rt.records, g.user, found, record_id)
        ],
        balances=balance_panels(found, record_id),
        title=rt.records.titles(g.user, found.qualified, {record_id}, current_language())[
            record_id
        ],
        children={f.name: rt.apps.entity(f.child) for f in found.table_fields()},
    )


def balance_panels(entity: Entity, record_id: int) -> list[dict]:
    """The balances keyed by this record (an item's stock per warehouse), the other keys
    shown by title."""
    rt = runtime()
    panels = []
    for balance, key in rt.balances.about(entity.qualified):
        ledger = rt.apps.entity(balance.ledger)
        if permissions.scope(rt.apps, g.user, ledger, "read") != "all":
            continue
        rows, total = rt.balances.rows(
            g.user, balance.name, {key: record_id}, app=ledger.app, limit=20
        )
        others = [k for k in balance.by if k != key]
        titles = {k: key_titles(ledger.fields[k], {r[k] for r in rows}) for k in others}
        panels.append(
            {
                "balance": balance,
                "key": key,
                "rows": rows,
                "total": total,
                "ledger": ledger,
                "others": others,
                "titles": titles,
            }
        )
    return panels


@bp.post(RECORD + "/transitions/<name>")
@login_required
def transition(app: str, entity: str, record_id: int, name: str):
    """Take a transition from the record page; a refusal is told there, nothing changes."""
    rt = runtime()
    found = rt.records.entity(f"{app}.{entity}")
    asked = (
        found.workflow.transitions[name].require
        if found.workflow and name in found.workflow.transitions
        else ()
    )
    data = {field: request.form.get(field, "") for field in asked}
    try:
        rt.transitions.take(
            g.user,
            found.qualified,
            record_id,
            name,
            data,
            comment=request.form.get("comment") or None,
            version=parse_int(request.form.get("version")),
        )
        flash(translate("Saved."), "ok")
    except (ValidationFailed, Conflict, Forbidden) as exc:
        flash(refusal(exc), "error")
    return redirect(url_for("records.view", app=app, entity=entity, record_id=record_id), code=303)


@bp.post(RECORD + "/delete")
@login_required
def delete(app: str, entity: str, record_id: int):
    runtime().records.delete(
        g.user, f"{app}.{entity}", record_id, version=parse_int(request.form.get("version"))
    )
    flash(translate("Deleted."), "ok")
    return redirect(url_for("lists.entity_list", app=app, entity=entity), code=303)


@bp.post(RECORD + "/comment")
@login_required
def comment(app: str, entity: str, record_id: int):
    rt = runtime()
    found = rt.records.entity(f"{app}.{entity}")
    error = None
    try:
        rt.records.comment(g.user, found.qualified, record_id, request.form.get("body", ""))
    except ValidationFailed as exc:
        if not request.headers.get("HX-Request"):
            raise
        error = "; ".join(exc.fields.values())
    if not request.headers.get("HX-Request"):
        return redirect(
            url_for("records.view", app=app, entity=entity, record_id=record_id), code=303
        )
    timeline = rt.records.timeline(g.user, found.qualified, record_id)
    return render_template(
        "records/_timeline.html",
        entity=found,
        timeline=timeline,
        timeline_titles=change_titles(found, timeline),
        show=show,
        error=error,
    ), 422 if error else 200


@bp.get("/files/<attachment_id>")
@login_required
def file(attachment_id: str):
    meta, path = runtime().attachments.open(g.user, attachment_id)
    response = send_file(
        path, mimetype=meta["content_type"], as_attachment=True, download_name=meta["name"]
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
