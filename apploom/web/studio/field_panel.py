"""The form designer's properties panel, read into a field's definition: its labels,
help, whether it is required or unique, its default, options with their colours,
bounds, the entity a ref points at, a formula and the conditions. Only the settings the
panel shows for the field's type are read; an input left empty removes its setting.
``ValidationFailed`` names the panel's input at fault and the field it belongs to."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from apploom.engine.definitions.model import Entity, Field, Label
from apploom.engine.errors import ValidationFailed
from apploom.engine.fields.base import FieldType, Invalid
from apploom.engine.fields.registry import FORMULA_RESULTS
from apploom.engine.messages import msg
from apploom.engine.records.conditions import CONDITIONS
from apploom.engine.workflow.definition import COLOURS
from apploom.web.studio.names import new_name


def shown_settings(ftype: FieldType, field: Field | None, entity: Entity) -> frozenset[str]:
    """What the panel offers for a field of this type (a workflow's status field is the
    workflow's to change: only its label and help are offered)."""
    if field is not None and entity.workflow is not None and field.name == entity.workflow.field:
        return frozenset({"label", "help"})
    shown = {"label", "help", "required", *CONDITIONS}
    if not ftype.numbered and ftype.has_column:
        shown.add("default")
    if ftype.indexable and not ftype.holds_list and ftype.has_column:
        shown.add("unique")
    if ftype.has_options:
        shown.add("options")
    if "min" in ftype.settings:
        shown |= {"min", "max"}
    if ftype.is_reference:
        shown.add("to")
    if ftype.name in FORMULA_RESULTS:
        shown.add("formula")
    return frozenset(shown)


def read_panel(
    form, ftype: FieldType, shown: frozenset[str], title: Label, field: Field | None
) -> dict:
    """The settings the panel gives, each None where its input was left empty."""
    said: dict = {}
    if "label" in shown:
        said["label"] = _label(form, "label", title)
        if said["label"] is None:
            raise ValidationFailed(
                {"label_zh": msg("{field}: give it a name in 中文 or English", field=title)}
            )
    if "help" in shown:
        said["help"] = _label(form, "help", title)
    for flag in ("required", "unique"):
        if flag in shown:
            said[flag] = True if form.get(flag) else None
    if "default" in shown:
        said["default"] = _typed(form, "default", ftype, title)
    for bound in ("min", "max"):
        if bound in shown:
            said[bound] = _typed(form, bound, ftype, title)
    if "options" in shown:
        system = {o.value for o in field.options if o.system} if field else set()
        said["options"] = _options(form, title, system)
    if "to" in shown:
        said["to"] = form.get("to", "").strip() or None
        if said["to"] is None:
            raise ValidationFailed({"to": msg("{field}: choose what it refers to", field=title)})
    for expression in ("formula", *CONDITIONS):
        if expression in shown:
            said[expression] = " ".join(form.get(expression, "").split()) or None
    if said.get("formula"):
        said["readonly"] = True  # the system works it out; nobody types it
    elif field is not None and field.formula:
        said["readonly"] = None  # no longer worked out: people type it again
    return said


def _label(form, key: str, title: Label) -> dict | None:
    """Both languages of a label; one left empty takes the other's."""
    en, zh = form.get(f"{key}_en", "").strip(), form.get(f"{key}_zh", "").strip()
    if not (en or zh):
        return None
    return {"en": en or zh, "zh": zh or en}


def _typed(form, key: str, ftype: FieldType, title: Label):
    """A default or bound as the definition writes it: a number for a number field, true
    or false for a switch, else the text (the definition's check does the rest)."""
    text = form.get(key, "").strip()
    if not text:
        return None
    if ftype.numeric:
        try:
            number = Decimal(text.replace(",", ""))
        except InvalidOperation:
            raise ValidationFailed(
                {key: msg("{field}: '{value}' is not a number", field=title, value=text)}
            ) from None
        return int(number) if number == number.to_integral() else float(number)
    if ftype.widget == "switch":  # yes, no, 是, 否... as the type reads them
        try:
            return ftype.coerce(Field(name=key, type=ftype.name, label=title), text)
        except Invalid as exc:
            said = msg("{field}: {said}", field=title, said=exc.message)
            raise ValidationFailed({key: said}) from None
    return text


def _options(form, title: Label, system: set[str]) -> list | None:
    """The option rows: each a value (made from its English label if left empty), its
    labels and its colour; rows with nothing typed are dropped. An option only the app's
    rules choose (``system``) stays so."""
    rows = zip(
        form.getlist("option_value"),
        form.getlist("option_en"),
        form.getlist("option_zh"),
        form.getlist("option_colour"),
        strict=False,
    )
    options: list[dict] = []
    seen: set[str] = set()
    for value, en, zh, colour in rows:
        value, en, zh = value.strip(), en.strip(), zh.strip()
        if not (value or en or zh):
            continue
        value = value or new_name(en, seen, fallback=f"option_{len(seen) + 1}")
        if value in seen:
            raise ValidationFailed(
                {
                    "options": msg(
                        "{field}: the option '{value}' is there twice", field=title, value=value
                    )
                }
            )
        if colour and colour not in COLOURS:
            raise ValidationFailed(
                {
                    "option_colour": msg(
                        "{field}: '{value}' is not a colour", field=title, value=colour
                    )
                }
            )
        seen.add(value)
        option: dict = {"value": value, "label": {"en": en or zh or value, "zh": zh or en or value}}
        if colour:
            option["colour"] = colour
        if value in system:
            option["system"] = True
        options.append(option)
    return options or None
