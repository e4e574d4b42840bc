"""The studio's form designer: an entity's form drawn as its users see it (the real
widgets, disabled, in its sections and rows), with a palette of field types to drag
in, fields to drag between sections and rows, and a properties panel per field (the
fields of a table's rows too: a new one is a column of each row). What the admin does
is written into the definition's text (the layout, the field added or changed) and
goes to the studio's usual preview and apply."""

from __future__ import annotations

import json

from flask import abort, render_template, request

from apploom.engine.definitions.loading import Source
from apploom.engine.definitions.model import RESERVED_NAMES, Entity, Label
from apploom.engine.errors import ValidationFailed
from apploom.engine.messages import msg
from apploom.engine.versions import applied, text_edits
from apploom.engine.workflow.definition import COLOURS
from apploom.web.context import runtime
from apploom.web.i18n import in_language, shown_name, translate
from apploom.web.studio.field_panel import read_panel, shown_settings
from apploom.web.studio.names import new_name
from apploom.web.studio.rendered import screen, shown_sections
from apploom.web.studio.routes import _app, _live, _preview, bp

NEW = "__new__"  # the place in the layout of the field being added from the palette
# The built-in types' names as the palette shows them, in the palette's order (a
# plugin's type comes after them, by its name).
TYPE_NAMES = {
    "text": msg("One line of text"),
    "long_text": msg("Long text"),
    "integer": msg("Whole number"),
    "decimal": msg("Number"),
    "money": msg("Money"),
    "percent": msg("Percent"),
    "date": msg("Date"),
    "datetime": msg("Date and time"),
    "select": msg("Choice"),
    "multiselect": msg("Several choices"),
    "boolean": msg("Checkbox"),
    "ref": msg("Link to a record"),
    "user": msg("Person"),
    "email": msg("Email"),
    "phone": msg("Phone"),
    "url": msg("Web address"),
    "attachment": msg("File"),
    "barcode": msg("Barcode"),
    "autonumber": msg("Running number"),
    "rich_text": msg("Rich text"),
    "formula": msg("Formula"),
}
FORMULA_TYPE = "decimal"  # what the palette's formula is worked out as, to start with


def palette() -> list[tuple[str, str, str]]:
    """(key, type, name) of what can be dragged in: every type a person fills in one
    field (a table of rows needs an entity of its own: the YAML tab adds those), and a
    formula."""
    types = runtime().types
    names = [n for n in TYPE_NAMES if n in types] + [
        n for n in types.names() if n not in TYPE_NAMES
    ]
    found = [
        (name, name, translate(TYPE_NAMES.get(name, name)))
        for name in names
        if "of" not in types[name].settings
    ]
    return [*found, ("formula", FORMULA_TYPE, translate(TYPE_NAMES["formula"]))]


@bp.get("/<app>/<entity>/form")
def form_layout(app: str, entity: str):
    """The form as its users see it, to drag fields into and about, and click."""
    found = designed_entity(app, entity)
    drawn = screen(found, runtime().apps)
    return render_template(
        "studio/form.html",
        app=app,
        entity=found,
        sections=drawn.sections,
        children=drawn.children,
        palette=palette(),
        new=NEW,
    )


@bp.get("/<app>/<entity>/form/field")
def field_panel(app: str, entity: str):
    """The properties panel of a field (``name``), or of a new one (``type``), of the
    form or of the rows of its table ``table``."""
    table = request.args.get("table", "")
    try:
        found = rows_of(designed_entity(app, entity), table)
    except ValidationFailed:
        abort(404)
    types = runtime().types
    field = found.fields.get(request.args.get("name", ""))
    type_name = field.type if field else request.args.get("type", "")
    if type_name not in types:
        abort(404)
    rt = runtime()
    return render_template(
        "studio/_field_panel.html",
        app=app,
        entity=found,
        table=table,
        field=field,
        type_name=type_name,
        type_shown=translate(TYPE_NAMES.get(type_name, type_name)),
        formula_first=request.args.get("formula") == "1",
        shown=shown_settings(types[type_name], field, found),
        colours=[(c, shown_name(c)) for c in COLOURS],
        targets=sorted((e.qualified, e) for e in rt.apps.entities() if not e.is_child),
        new=NEW,
    )


@bp.post("/<app>/<entity>/form")
def save_form_layout(app: str, entity: str):
    """The dragged layout, and the field the panel added or changed, written into the
    definition for the usual preview."""
    found = designed_entity(app, entity)
    source = _live(app)
    retiring = request.form.get("retire") == "1"  # the layout sent still places the field
    try:
        text, added = _with_field(request.form, source.text, found)
        sections = None if retiring else read_layout(request.form.get("layout", ""), found, added)
    except ValidationFailed as exc:
        said = "; ".join(translate(v) for v in exc.fields.values())
        return _preview(app, source, said, designed=True), 422
    if sections is not None:
        text = written_layout(text, found, sections)
    changed = Source(source.file, text)
    difference = applied.diff(source, changed, f"{app} (live)", f"{app} (changed)")
    return _preview(app, changed, diff=difference, designed=True)


def written_layout(text: str, entity: Entity, sections: list[dict]) -> str:
    """The text with the form laid out as ``sections``. The section of the fields the
    layout does not place is left out while it is as it was (users see it, last, anyway);
    while no section is taken away, only the names and rows that changed are written
    anew and new sections go after the others, so the diff shows the change and nothing
    else."""
    path = ("entities", entity.name, "form")
    shown = [
        {"section": {"en": s.label.en, "zh": s.label.zh}, "rows": [list(r) for r in s.rows]}
        for s in shown_sections(entity)
    ]
    if sections == shown:
        return text
    placed = len(entity.form)
    if entity.form and placed < len(shown):
        sections = [s for s in sections if s != shown[placed]]
    if not entity.form or len(sections) < placed:
        return text_edits.set_block(text, path, sections)
    for i, (before, after) in enumerate(zip(shown[:placed], sections, strict=False)):
        for key in ("section", "rows"):
            if before[key] != after[key]:
                text = text_edits.set_block(text, (*path, i, key), after[key])
    if len(sections) > placed:  # sections added after the others
        try:
            return text_edits.append_items(text, path, sections[placed:])
        except ValidationFailed:  # a form written in flow style: written anew
            return text_edits.set_block(text, path, sections)
    return text


def designed_entity(app: str, entity: str) -> Entity:
    """The entity a designer page is about: one with a form and a list of its own (not
    a table's rows)."""
    found = _app(app).entities.get(entity)
    if found is None or found.is_child:
        abort(404)
    return found


def rows_of(entity: Entity, table: str) -> Entity:
    """The entity whose field a panel is about: the form's own, or, with ``table`` named,
    the rows of that table of the form."""
    if not table:
        return entity
    field = entity.fields.get(table)
    if field is None or not field.holds_rows:
        raise ValidationFailed({"table": msg("'{value}' is not a table of this form", value=table)})
    return runtime().apps.entity(field.child)


def _with_field(form, text: str, form_entity: Entity) -> tuple[str, str | None]:
    """The text with the panel's field added (and its new name, if it is the form's),
    changed or retired."""
    panel = form.get("panel", "")
    if not panel:
        return text, None
    entity = rows_of(form_entity, form.get("table", ""))
    types = runtime().types
    if panel == "new":
        type_name = form.get("type", "")
        if type_name not in types or "of" in types[type_name].settings:
            raise ValidationFailed({"type": msg("'{value}' is not a field type", value=type_name)})
        title = _title(form, type_name)
        ftype = types[type_name]
        said = read_panel(form, ftype, shown_settings(ftype, None, entity), title, None)
        name = new_name(said["label"]["en"], {*entity.fields, *RESERVED_NAMES}, "field")
        spec = {"type": type_name, **{k: v for k, v in said.items() if v is not None}}
        spec["to"] = _short(spec.get("to"), entity)
        added = text_edits.add_field(text, entity.name, name, _kept(spec))
        return added, name if entity is form_entity else None
    field = entity.fields.get(form.get("field", ""))
    if field is None:
        raise ValidationFailed(
            {"field": msg("'{value}' is not a field of this form", value=form.get("field", ""))}
        )
    if form.get("retire") == "1":
        return text_edits.retire_field(text, entity.name, field.name), None
    ftype = types[field.type]
    said = read_panel(form, ftype, shown_settings(ftype, field, entity), field.label, field)
    if "to" in said:
        said["to"] = _short(said["to"], entity)
    return text_edits.change_field(text, entity.name, field.name, said), None


def _title(form, type_name: str) -> Label:
    """What an error calls the field being added: its label, or the new field's type."""
    en, zh = form.get("label_en", "").strip(), form.get("label_zh", "").strip()
    kind = TYPE_NAMES.get(type_name, msg(type_name))
    return Label(
        en or zh or in_language(msg("New field ({kind})", kind=kind), "en"),
        zh or en or in_language(msg("New field ({kind})", kind=kind), "zh"),
    )


def _short(target: str | None, entity: Entity) -> str | None:
    """A ref's target as definitions write it: an entity of the same app by its name."""
    if target is None:
        return None
    if not any(e.qualified == target for e in runtime().apps.entities() if not e.is_child):
        raise ValidationFailed({"to": msg("'{value}' is not an entity", value=target)})
    app, _, name = target.partition(".")
    return name if app == entity.app else target


def _kept(spec: dict) -> dict:
    return {k: v for k, v in spec.items() if v is not None}


def read_layout(sent: str, entity: Entity, added: str | None) -> list[dict] | None:
    """The sections and rows as dragged (None if the page sent none): each field once,
    and the new field in its place."""
    if not sent:
        return None
    try:
        sections = [
            {
                "section": {"en": s["en"] or s["zh"] or "", "zh": s["zh"] or s["en"] or ""},
                "rows": [[str(n) for n in row] for row in s["rows"] if row],
            }
            for s in json.loads(sent)
        ]
    except (ValueError, KeyError, TypeError):
        raise ValidationFailed(
            {"layout": msg("The layout could not be read; try again.")}
        ) from None
    for section in sections:
        named = (
            [m for m in (added if n == NEW else n for n in row) if m] for row in section["rows"]
        )
        section["rows"] = [row for row in named if row]  # the new field named, or gone
        unknown = [
            n for row in section["rows"] for n in row if n not in entity.fields and n != added
        ]
        if unknown:
            raise ValidationFailed(
                {"layout": msg("'{value}' is not a field of this form", value=unknown[0])}
            )
    return [s for s in sections if s["rows"]]
