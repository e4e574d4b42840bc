"""An entity's rules as cards a business admin reads (when, if, then, in their language),
and each rule's editor: a trigger picked from what can happen to the record, a condition
built of rows (or typed, for experts), actions as forms (``rule_actions``). What the
editor posts is read into the rule as the definition writes it, and goes to the studio's
usual preview."""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import abort, render_template, request

from apploom.engine.definitions.model import Entity, Label
from apploom.engine.errors import ValidationFailed
from apploom.engine.fields import choices, dates, numbers, text
from apploom.engine.fields.registry import FieldTypes
from apploom.engine.messages import msg
from apploom.engine.versions import text_edits
from apploom.web.context import runtime
from apploom.web.i18n import current_language, label, translate
from apploom.web.studio import forms
from apploom.web.studio.conditions import NO_VALUE, OPERATORS, Condition, expression_of, rows_of
from apploom.web.studio.names import new_name
from apploom.web.studio.routes import _app, _live, bp, designed_preview
from apploom.web.studio.rule_actions import (
    ADDABLE,
    action_choices,
    as_filled,
    names_typed,
    posted_actions,
)


@dataclass(frozen=True)
class FieldChoice:
    """A field a condition row or an action may name: its kind, label and options."""

    name: str
    label: Label
    kind: str
    options: tuple[tuple[str, Label], ...] = ()
    via: Label | None = None  # a field of the record a ref points at: the ref's label


def field_choices(entity: Entity, types: FieldTypes) -> dict[str, FieldChoice]:
    """The fields a condition can read, by the kind of value each holds: the entity's,
    then those of the records its refs point at (``customer.city``)."""
    found = {}
    for field in entity.fields.values():
        kind = _kind(types[field.type])
        if kind is not None:
            found[field.name] = _choice(field, field.name, kind)
    for ref in entity.fields.values():
        if not types[ref.type].is_reference or not ref.to:
            continue
        for field in runtime().apps.entity(ref.to).fields.values():
            kind = _kind(types[field.type])
            if kind not in (None, "link"):  # one step along refs, as conditions go
                name = f"{ref.name}.{field.name}"
                found[name] = _choice(field, name, str(kind), ref.label)
    return found


def _choice(field, name: str, kind: str, via: Label | None = None) -> FieldChoice:
    options = tuple((o.value, o.label) for o in field.options)
    return FieldChoice(name, field.label, kind, options, via)


def _kind(field_type) -> str | None:
    if field_type.is_reference or field_type.is_user:
        return "link"
    for cls, kind in (
        (choices.BooleanType, "boolean"),
        (choices.MultiSelectType, "multi"),
        (choices.SelectType, "choice"),
        (dates.DateTimeType, "datetime"),
        (dates.DateType, "date"),
        (numbers.IntegerType, "number"),
        (numbers.DecimalType, "number"),
        (text.TextType, "text"),
        (text.AutoNumberType, "text"),
    ):
        if isinstance(field_type, cls):
            return kind
    return None


def _kinds(fields: dict[str, FieldChoice]) -> dict[str, str]:
    return {name: f.kind for name, f in fields.items()}


def _entity(app: str, entity: str) -> Entity:
    found = _app(app).entities.get(entity)
    if found is None or found.is_child:
        abort(404)
    return found


def _rule_at(text: str, entity: str, index: int) -> dict:
    rules = text_edits.rules_of(text, entity)
    if not 0 <= index < len(rules):
        abort(404)
    return {"name": f"rule_{index + 1}", **rules[index]}


# ---- the cards ------------------------------------------------------------------------


@bp.get("/<app>/<entity>/rules")
def rule_cards(app: str, entity: str):
    """The entity's rules, each a card: when, if, then."""
    found = _entity(app, entity)
    fields = field_choices(found, runtime().types)
    rules = text_edits.rules_of(_live(app).text, entity) if found.rules else []
    return render_template(
        "studio/rules.html",
        app=app,
        entity=found,
        fields=fields,
        cards=[_card(i, rule, found, fields) for i, rule in enumerate(rules)],
    )


def _card(index: int, rule: dict, entity: Entity, fields: dict[str, FieldChoice]) -> dict:
    parsed = entity.rules[index]
    rows = rows_of(rule.get("if"), _kinds(fields))
    return {
        "index": index,
        "rule": parsed,
        "on": _trigger_choice(rule.get("on", "created")),
        "rows": rows,
        "condition": rule.get("if") or "",
        "actions": [next(iter(a.items())) for a in rule.get("do") or []],
    }


@bp.app_template_global()
def rule_title(rule) -> str:
    """A rule's label in the reader's language, or its name where it has no label."""
    return label(rule.label) if rule.label != Label.parse(None, rule.name) else rule.name


@bp.app_template_filter("field_label")
def field_label(name: str, entity: Entity) -> str:
    """A field's label, named bare (``owner``) or as a template (``{owner}``); a field of
    the record a ref points at (``{order.owner}``) as "Order › Owner"."""
    shown, within = [], entity.fields
    for part in name.strip("{}").split("."):
        field = within.get(part)
        shown.append(label(field.label) if field else part)
        within = runtime().apps.entity(field.to).fields if field and field.to else {}
    return " › ".join(shown)


@bp.app_template_filter("in_reader_language")
def in_reader_language(parts: dict) -> str:
    """Of a text's Chinese and English parts, the reader's (or the one there is)."""
    first = "zh" if current_language() == "zh" else "en"
    return parts[first] or parts["zh" if first == "en" else "en"]


# ---- the editor ----------------------------------------------------------------------


@bp.get("/<app>/<entity>/rules/new")
def new_rule(app: str, entity: str):
    found = _entity(app, entity)
    return _editor(app, found, None, {"on": "created", "do": []})


@bp.get("/<app>/<entity>/rules/<int:index>")
def rule_settings(app: str, entity: str, index: int):
    """One rule in its editor: when it runs, its condition, each action's form."""
    found = _entity(app, entity)
    return _editor(app, found, index, _rule_at(_live(app).text, entity, index))


def _editor(app: str, entity: Entity, index: int | None, rule: dict):
    fields = field_choices(entity, runtime().types)
    rows = rows_of(rule.get("if"), _kinds(fields))
    return render_template(
        "studio/rule.html",
        app=app,
        entity=entity,
        index=index,
        rule=rule,
        on=_trigger_choice(rule.get("on", "created")),
        fields=fields,
        condition=_condition_view(rows, rule.get("if") or "", fields),
        actions=[(i, *next(iter(a.items()))) for i, a in enumerate(rule.get("do") or [])],
        **action_choices(app, entity),
    )


def _refused(app: str, entity: Entity, index: int | None, rule: dict, exc: ValidationFailed):
    """The editor again, as the admin filled it in, saying what to put right: nothing
    they picked or typed is lost to a mistake."""
    form, fields = request.form, field_choices(entity, runtime().types)
    rows = [_fitted(r, fields) for r in posted_rows(form, _kinds(fields)) if r.field in fields]
    text = form.get("if_mode") == "text"
    named = {k: form.get(f"rule_label_{k}", "").strip() for k in ("en", "zh")}
    page = render_template(
        "studio/rule.html",
        app=app,
        entity=entity,
        index=index,
        rule={**rule, "label": named, "enabled": bool(form.get("rule_enabled"))},
        on={
            "choice": form.get("rule_on", "created"),
            "fields": form.getlist("rule_on_fields"),
            "detail": form.get("rule_on_detail", ""),
        },
        fields=fields,
        condition=_condition_view(None if text else rows, form.get("rule_if", ""), fields),
        actions=as_filled(form, rule.get("do") or [], {}),
        error="; ".join(translate(said) for said in exc.fields.values()),
        **action_choices(app, entity),
    )
    return page, 422


@bp.post("/<app>/<entity>/rules/new")
def add_rule(app: str, entity: str):
    """A rule made in the editor, added after the entity's others, for the preview."""
    found, source = _entity(app, entity), _live(app)
    try:
        taken = {r.name for r in found.rules}
        rule = rule_from_card(request.form, {"do": []}, found)
        name = new_name(rule.get("label", {}).get("en", ""), taken, "rule")
        text = text_edits.add_rule(source.text, entity, {"name": name, **rule})
    except ValidationFailed as exc:
        return _refused(app, found, None, {"do": []}, exc)
    title = _title(rule.get("label"), name)
    return designed_preview(app, source, text, [translate("New rule: %s") % title])


@bp.post("/<app>/<entity>/rules/<int:index>")
def save_rule(app: str, entity: str, index: int):
    """The rule rewritten from its editor (or removed), for the usual preview."""
    found, source, form = _entity(app, entity), _live(app), request.form
    rule = _rule_at(source.text, entity, index)
    try:
        changed = None if form.get("remove") else rule_from_card(form, rule, found)
        if changed is not None:
            changed = {"name": rule["name"], **changed}
        text = text_edits.change_rule(source.text, entity, index, changed)
    except ValidationFailed as exc:
        return _refused(app, found, index, rule, exc)
    title = rule_title(found.rules[index])
    said = translate("Rule %s is removed") if changed is None else translate("Rule %s is changed")
    return designed_preview(app, source, text, [said % title])


def _title(given: dict | None, name: str) -> str:
    """A new rule's label in the admin's language, or its name."""
    return label(Label.parse(given, name)) if given else name


def _trigger_choice(on: str | dict) -> dict:
    """The trigger as the editor's inputs hold it: the choice, the fields, the detail."""
    if isinstance(on, str):
        return {"choice": on, "fields": [], "detail": ""}
    kind, detail = next(iter(on.items()))
    if kind == "transition":
        return {"choice": f"transition:{detail}", "fields": [], "detail": ""}
    if kind == "updated":
        return {"choice": kind, "fields": list(detail or ()), "detail": ""}
    return {"choice": kind, "fields": [], "detail": str(detail)}


def rule_from_card(form, rule: dict, entity: Entity) -> dict:
    """The rule as the editor says: label, on or off, trigger, condition, actions.
    Settings the editor does not show (a scheduled rule's ``where``) are kept."""
    fields = field_choices(entity, runtime().types)
    changed: dict = {}
    given = {k: form.get(f"rule_label_{k}", "").strip() for k in ("en", "zh")}
    if any(given.values()):
        changed["label"] = {"en": given["en"] or given["zh"], "zh": given["zh"] or given["en"]}
    changed["on"] = forms.trigger_from(form)
    condition = _posted_condition(form, rule.get("if") or "", _kinds(fields))
    if condition:
        changed["if"] = condition
    if "where" in rule:
        changed["where"] = rule["where"]
    if not form.get("rule_enabled"):
        changed["enabled"] = False
    actions = posted_actions(form, rule.get("do") or [])
    if not actions:
        raise ValidationFailed({"do": msg("A rule needs an action; remove the rule instead")})
    return {**changed, "do": actions}


# ---- the condition: rows, or text -----------------------------------------------------


def _posted_condition(form, original: str, kinds: dict[str, str]) -> str:
    """The condition the editor holds: the text typed, or what its rows say; rows that
    say what the rule said keep its text as it was written."""
    if "if_mode" not in form:  # a form without the condition's part changes it not
        return original.strip()
    if form.get("if_mode") == "text":
        return form.get("rule_if", "").strip()
    rows = posted_rows(form, kinds)
    if rows == rows_of(original, kinds):
        return original.strip()
    return expression_of(rows, kinds)


def posted_rows(form, kinds: dict[str, str]) -> list[Condition]:
    """The condition rows as posted (c0_field, c0_op, c0_value, c0_join, ...)."""
    found = sorted(int(m[1]) for key in form if (m := re.fullmatch(r"c(\d+)_field", key)))
    rows = []
    for n in found:
        field, op = form.get(f"c{n}_field", ""), form.get(f"c{n}_op", "eq")
        values = [v.strip() for v in form.getlist(f"c{n}_value")]
        if op == "one_of" and kinds.get(field) == "text":
            values = names_typed(",".join(values))
        value: str | tuple[str, ...] = (
            tuple(v for v in values if v) if op == "one_of" else (values[0] if values else "")
        )
        join = "or" if form.get(f"c{n}_join") == "or" else "and"
        rows.append(Condition(field, op, "" if op in NO_VALUE else value, join))
    return rows


def _condition_view(
    rows: list[Condition] | None, typed: str, fields: dict[str, FieldChoice], note: str = ""
) -> dict:
    """What the condition's part of the editor shows: its rows, or the text (with why)."""
    shown = [
        {
            "row": row,
            "field": fields.get(row.field),
            "operators": OPERATORS[fields[row.field].kind] if row.field in fields else (),
        }
        for row in rows or []
    ]
    return {"mode": "text" if rows is None else "rows", "rows": shown, "text": typed, "note": note}


@bp.get("/<app>/<entity>/rules/condition")
def condition_part(app: str, entity: str):
    """The condition's part of the editor redrawn as the admin builds it (htmx): a row
    added or removed, a field or operator chosen, the expression shown or read back."""
    found = _entity(app, entity)
    fields = field_choices(found, runtime().types)
    kinds, args = _kinds(fields), request.args
    change, typed = args.get("change", ""), args.get("rule_if", "")
    if args.get("if_mode") == "text" and change != "to_rows":
        return _condition(app, found, None, typed, fields)
    if change == "to_rows":
        rows = rows_of(typed, kinds)
        cannot = translate("The rows cannot say this condition; it stays as text.")
        note = "" if rows is not None else cannot
        return _condition(app, found, rows, typed, fields, note)
    rows = [_fitted(row, fields) for row in posted_rows(args, kinds) if row.field in fields]
    if change == "add":
        first = next(iter(fields.values()))
        rows.append(Condition(first.name, OPERATORS[first.kind][0]))
    if change.startswith("remove:") and change[7:].isdigit():
        rows = [r for i, r in enumerate(rows) if i != int(change[7:])]
    if change == "to_text":
        try:
            return _condition(app, found, None, expression_of(rows, kinds), fields)
        except ValidationFailed:
            unfinished = translate("Give every row a value first.")
            return _condition(app, found, rows, "", fields, unfinished)
    return _condition(app, found, rows, typed, fields)


def _fitted(row: Condition, fields: dict[str, FieldChoice]) -> Condition:
    """A row whose field was changed keeps an operator and value that fit the new field."""
    field = fields[row.field]
    op = row.op if row.op in OPERATORS[field.kind] else OPERATORS[field.kind][0]
    value = row.value
    known = {v for v, _ in field.options}
    if field.kind in ("choice", "multi") and known:
        value = tuple(v for v in row.value if v in known) if op == "one_of" else row.value
        value = value if op == "one_of" or value in known else ""
    elif isinstance(value, tuple) and op != "one_of":
        value = value[0] if value else ""
    return Condition(row.field, op, value, row.join)


def _condition(app, entity, rows, typed, fields, note=""):
    return render_template(
        "studio/_rule_if.html",
        app=app,
        entity=entity,
        fields=fields,
        condition=_condition_view(rows, typed, fields, note),
    )


# ---- the actions ----------------------------------------------------------------------


@bp.get("/<app>/<entity>/rules/action")
def action_part(app: str, entity: str):
    """A new action's form, for the kind chosen (htmx), numbered after the others; or
    the form of action number ``at`` drawn again for the entity its record is of."""
    found = _entity(app, entity)
    kind, at = request.args.get("kind", ""), request.args.get("at", "")
    if kind not in ADDABLE:
        abort(404)
    taken = [int(m[1]) for key in request.args if (m := re.fullmatch(r"a(\d+):kind", key))]
    i = int(at) if at.isdigit() else max(taken, default=-1) + 1
    target = request.args.get(f"a{i}.entity")
    return render_template(
        "studio/_rule_action.html",
        app=app,
        entity=found,
        i=i,
        kind=kind,
        params={"entity": target} if target is not None else None,
        **action_choices(app, found),
    )
