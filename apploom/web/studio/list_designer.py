"""The studio's list designer: an entity's list columns, filters, search fields and
sort picked from its fields (ticked and dragged into order), beside a live preview of
the list as chosen, with the entity's first records as the admin may read them. Saving
writes the choices into the definition's text for the studio's usual preview."""

from __future__ import annotations

from flask import g, render_template, request

from apploom.engine.definitions.loading import Source
from apploom.engine.definitions.model import Entity, Field
from apploom.engine.definitions.reading import read_document
from apploom.engine.errors import AppLoomError, ValidationFailed
from apploom.engine.messages import message_of, msg
from apploom.engine.query.filters import AUDIT_FIELDS, SYSTEM_FIELDS, Query
from apploom.engine.versions import applied, text_edits
from apploom.web.context import runtime
from apploom.web.display import ref_titles, show
from apploom.web.i18n import translate
from apploom.web.studio.form_designer import designed_entity
from apploom.web.studio.routes import _live, _preview, bp

PREVIEW_ROWS = 10
CHOSEN = ("columns", "filters", "search", "sort")


def choices(entity: Entity) -> dict[str, list[Field]]:
    """What each setting may name: every field a list can show (not a table of rows)
    and the records' audit fields; search only text and refs; sort what has an order."""
    types = runtime().types
    shown = [f for f in entity.fields.values() if not f.holds_rows]
    shown += [SYSTEM_FIELDS[name] for name in AUDIT_FIELDS]
    return {
        "columns": shown,
        "filters": shown,
        "search": [
            f
            for f in shown
            if f.name in entity.fields and (types[f.type].searchable or types[f.type].is_reference)
        ],
        "sort": [f for f in shown if types[f.type].sortable],
    }


def chosen(form, entity: Entity) -> dict[str, list[str]]:
    """The ticked names of each setting in the order sent, and the sort's keys (each
    with its direction); a name the entity does not offer is refused by name."""
    offered = {key: {f.name for f in fields} for key, fields in choices(entity).items()}
    picked = {key: form.getlist(key) for key in ("columns", "filters", "search")}
    picked["sort"] = [
        ("-" if form.get(f"{key}_desc") else "") + form[key]
        for key in ("sort", "then_sort")
        if form.get(key)
    ]
    for key, names in picked.items():
        unknown = [n for n in names if n.lstrip("-") not in offered[key]]
        if unknown:
            raise ValidationFailed({key: msg("'{value}' cannot be chosen here", value=unknown[0])})
    if not picked["columns"]:
        raise ValidationFailed({"columns": msg("Tick at least one column.")})
    return picked


def ordered(fields: list[Field], names: tuple[str, ...]) -> list[Field]:
    """The fields named, in their order, then the others."""
    by_name = {f.name: f for f in fields}
    return [by_name[n] for n in names if n in by_name] + [f for f in fields if f.name not in names]


@bp.get("/<app>/<entity>/list")
def list_settings(app: str, entity: str):
    """The list's settings as ticks, with the preview of the list as it is."""
    found = designed_entity(app, entity)
    offered = choices(found)
    return render_template(
        "studio/list.html",
        app=app,
        entity=found,
        offered={key: ordered(fields, getattr(found.list, key)) for key, fields in offered.items()},
        sort=[(name.lstrip("-"), name.startswith("-")) for name in found.list.sort][:2],
        **_preview_of(found, {key: list(getattr(found.list, key)) for key in CHOSEN}),
    )


@bp.post("/<app>/<entity>/list/preview")
def list_preview(app: str, entity: str):
    """The list as the admin has chosen it so far (htmx, as they tick and drag)."""
    found = designed_entity(app, entity)
    try:
        picked = chosen(request.form, found)
    except ValidationFailed as exc:
        said = "; ".join(translate(v) for v in exc.fields.values())
        return render_template("studio/_list_preview.html", entity=found, error=said), 422
    return render_template("studio/_list_preview.html", entity=found, **_preview_of(found, picked))


@bp.post("/<app>/<entity>/list")
def save_list_settings(app: str, entity: str):
    """The list's columns, filters, search and sort written into the definition (its
    other settings, such as the page size, as they were), for the usual preview."""
    found = designed_entity(app, entity)
    source = _live(app)
    try:
        picked = chosen(request.form, found)
    except ValidationFailed as exc:
        said = "; ".join(translate(v) for v in exc.fields.values())
        return _preview(app, source, said, designed=True), 422
    written = read_document("live.yaml", source.text).data["entities"][entity].get("list") or {}
    settings = {**written, **{key: picked[key] or None for key in CHOSEN}}
    text = text_edits.set_block(
        source.text,
        ("entities", entity, "list"),
        {k: v for k, v in settings.items() if v is not None},
    )
    changed = Source(source.file, text)
    difference = applied.diff(source, changed, f"{app} (live)", f"{app} (changed)")
    return _preview(app, changed, diff=difference, designed=True)


def _preview_of(entity: Entity, picked: dict[str, list[str]]) -> dict:
    """The first records, sorted as chosen, as the admin may read them, and the
    columns, filters and search fields to show them with."""
    rt = runtime()
    fields = {f.name: f for f in choices(entity)["columns"]}
    error, records = None, []
    try:
        page = rt.records.list(
            g.user, entity.qualified, Query(sort=tuple(picked["sort"]), limit=PREVIEW_ROWS)
        )
        records = page.data
    except AppLoomError as exc:
        error = translate(message_of(exc))
    return {
        "columns": [fields[n] for n in picked["columns"] if n in fields],
        "filters": [fields[n] for n in picked["filters"] if n in fields],
        "searched": [fields[n] for n in picked["search"] if n in fields],
        "records": records,
        "titles": ref_titles(entity, records),
        "show": show,
        "error": error,
    }
