"""The studio's forms, read into pieces of a definition: a field, a state, a rule, a
report, the dashboard. Each function takes the submitted form (and what is there now) and
returns what the definition should say; ``ValidationFailed`` names the input at fault."""

from __future__ import annotations

import re

import yaml

from apploom.engine.definitions.reading import read_document
from apploom.engine.errors import ValidationFailed
from apploom.engine.messages import msg
from apploom.engine.records.conditions import CONDITIONS
from apploom.engine.reports.definition import KINDS
from apploom.engine.versions import text_edits


def edited_text(form, text: str) -> str:
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
        spec.update(_conditions(form, ""))
        return text_edits.add_field(text, form.get("entity", ""), _name(form, "name"), spec)
    entity, _, field = form.get("field", "").partition(".")
    if kind == "retire_field":
        return text_edits.retire_field(text, entity, field)
    if kind == "change_field":
        changes: dict = {}
        if _relabel(form, "field"):
            changes["label"] = _relabel(form, "field")
        if form.get("field_required") in ("yes", "no"):
            changes["required"] = True if form["field_required"] == "yes" else None
        if form.get("field_default", "").strip():
            changes["default"] = form["field_default"].strip()
        if form.get("field_options", "").strip():
            changes["options"] = _list(form["field_options"])
        changes.update(_conditions(form, "field_"))
        return text_edits.change_field(text, entity, field, changes)
    if kind == "add_entity":
        name, first = _name(form, "entity_name"), _name(form, "entity_first_field")
        spec = {
            "label": _label(form, "entity_label_en", "entity_label_zh", name),
            "icon": form.get("entity_icon", "").strip() or None,
            "title": f"{{{first}}}",
            "fields": {first: {"type": "text", "required": True}},
        }
        return text_edits.add_entity(text, name, {k: v for k, v in spec.items() if v})
    if kind == "change_entity":
        entity, changes = form.get("entity_entry", ""), {}
        if _relabel(form, "entity"):
            changes["label"] = _relabel(form, "entity")
        if form.get("entity_new_icon", "").strip():
            changes["icon"] = form["entity_new_icon"].strip()
        return text_edits.change_entity(text, entity, changes)
    if kind in ("change_state", "change_transition"):
        key = "state" if kind == "change_state" else "transition"
        entity, _, name = form.get(f"{key}_entry", "").partition(".")
        path = ("entities", entity, "workflow", f"{key}s", name)
        return text_edits.change_entry(text, path, _entry_changes(form, key))
    if kind == "add_state":
        state, into = _name(form, "state_name"), _name(form, "transition")
        label = _label(form, "state_label_en", "state_label_zh", state)
        roles = _list(form.get("roles", ""))
        moves = {
            into: {
                "label": {
                    "en": form.get("transition_label") or into,
                    "zh": form.get("transition_label") or into,
                },
                "from": form.get("from", ""),
                "to": state,
                **({"roles": roles} if roles else {}),
            }
        }
        if form.get("then_to"):
            moves[f"{state}_done"] = {
                "from": state,
                "to": form["then_to"],
                **({"roles": roles} if roles else {}),
            }
        entity = form.get("state_entity", "")
        typed = form.get("state_readonly", "").strip()
        readonly = (
            _list(typed)
            if typed and typed != "-"
            else []
            if typed
            else _readonly_between(text, entity, form.get("from", ""), form.get("then_to", ""))
        )
        spec = {"label": label, "colour": form.get("colour", "grey")}
        return text_edits.add_state(
            text, entity, state, {**spec, **({"readonly": readonly} if readonly else {})}, moves
        )
    if kind == "add_rule":
        return text_edits.add_rule(text, form.get("rule_entity", ""), _rule(form))
    if kind == "add_report":
        return text_edits.add_report(
            text, _name(form, "report_name"), _report(form), bool(form.get("report_dashboard"))
        )
    raise ValidationFailed({"edit": msg("'{kind}' is not a change the studio makes", kind=kind)})


def _conditions(form, prefix: str) -> dict:
    """The conditions typed (``visible_if`` and its kin, as expressions); an empty input
    keeps what is there, a lone ``-`` removes it."""
    found: dict = {}
    for setting in CONDITIONS:
        typed = form.get(prefix + setting, "").strip()
        if typed:
            found[setting] = None if typed == "-" else typed
    return found


def _entry_changes(form, key: str) -> dict:
    """What the state or transition form changes; empty inputs keep what is there."""
    changes: dict = {}
    if _relabel(form, key):
        changes["label"] = _relabel(form, key)
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
    rule: dict = {"name": _name(form, "rule_name"), "on": trigger_from(form)}
    if form.get("rule_if", "").strip():
        rule["if"] = form["rule_if"].strip()
    action = _new_action(form)
    if action is None:
        raise ValidationFailed({"rule_do": msg("choose what the rule does")})
    return {**rule, "do": [action]}


def trigger_from(form) -> str | dict:
    """When the rule runs, as the definition writes it; which fields an update must
    change are ticked (rule_on_fields) or typed (rule_on_detail)."""
    trigger, detail = form.get("rule_on", "created"), form.get("rule_on_detail", "").strip()
    if trigger.startswith("transition:"):
        return {"transition": trigger.split(":", 1)[1]}
    if trigger == "updated" and (form.getlist("rule_on_fields") or detail):
        return {"updated": form.getlist("rule_on_fields") or _list(detail)}
    if trigger in ("schedule", "webhook"):
        if not detail:
            needed = (
                msg("a scheduled rule needs a cron expression such as 0 8 * * *")
                if trigger == "schedule"
                else msg("a webhook rule needs the webhook's name")
            )
            raise ValidationFailed({"rule_on_detail": needed})
        return {trigger: detail}
    return trigger


def _new_action(form) -> dict | None:
    """The action the form's action inputs describe, if one was chosen."""
    action = form.get("rule_do")
    if action == "set":
        return {"set": {_name(form, "set_field"): form.get("set_value", "")}}
    if action == "notify":
        return {
            "notify": {
                "roles": _list(form.get("notify_roles", "")),
                "message": form.get("notify_message", ""),
            }
        }
    if action == "email":
        return {"email": {k: form.get(f"email_{k}", "") for k in ("to", "subject", "body")}}
    if action == "transition":
        return {"transition": _name(form, "transition_name")}
    return None


def _report(form) -> dict:
    """A report from the form: what to count or sum, grouped how, drawn how."""
    report = {
        "label": _label(form, "report_label_en", "report_label_zh", form.get("report_name", "")),
        "entity": form.get("report_entity", ""),
        **_report_layout(form),
        "measures": {"value": _measure(form, "measure", form.get("measure_kind", ""))},
    }
    return {k: v for k, v in report.items() if v not in ([], "")}


def changed_report(form, report: dict) -> dict:
    """The report with the form's changes. Its source (an entity or a balance) stays; each
    measure is changed or dropped, and a new one added if it was named."""
    changed = {
        "label": _label(form, "report_label_en", "report_label_zh", ""),
        **{k: report[k] for k in ("entity", "balance") if k in report},
    }
    where = _filter(form, "report_where")
    measures = {
        name: _measure(form, f"m_{name}", name)
        for name in report["measures"]
        if not form.get(f"m_{name}_remove")
    }
    if form.get("m_new_name", "").strip():
        new = _name(form, "m_new_name")
        if new in measures:
            raise ValidationFailed(
                {"m_new_name": msg("there is already a measure '{name}'", name=new)}
            )
        measures[new] = _measure(form, "m_new", new)
    if not measures:
        raise ValidationFailed(
            {"measures": msg("a report needs a measure; remove the report instead")}
        )
    layout = _report_layout(form)
    limit = form.get("report_limit", "").strip()
    if limit and not (limit.isdigit() and 1 <= int(limit) <= 1000):
        raise ValidationFailed(
            {"report_limit": msg("'{value}' is not a number from 1 to 1000", value=limit)}
        )
    changed.update(
        {
            "where": where,
            "filters": layout["filters"],
            "rows": layout["rows"],
            "columns": layout["columns"],
            "measures": measures,
            "having": form.get("report_having", "").strip(),
            "sort": _list(form.get("report_sort", "")),
            "limit": int(limit) if limit else None,
            "chart": layout["chart"],
        }
    )
    return {k: v for k, v in changed.items() if v not in ([], "", None)}


def _report_layout(form) -> dict:
    return {
        "rows": _list(form.get("report_rows", "")),
        "columns": _list(form.get("report_columns", "")),
        "filters": _list(form.get("report_filters", "")),
        "chart": form.get("report_chart", "table"),
    }


def _measure(form, prefix: str, name: str) -> dict:
    """A measure: its kind, what it is of (a field, an expression, or two measures for a
    ratio), label, format and its own filter."""
    kind = form.get(f"{prefix}_kind", "count")
    if kind not in KINDS:
        raise ValidationFailed(
            {
                f"{prefix}_kind": msg(
                    "'{value}' is not one of {choices}", value=kind, choices=", ".join(KINDS)
                )
            }
        )
    of = form.get(f"{prefix}_of", "").strip()
    measure: dict = {
        kind: _list(of) if kind == "ratio" else of or "*",
        "label": _label(form, f"{prefix}_label_en", f"{prefix}_label_zh", name),
    }
    where = _filter(form, f"{prefix}_where")
    if where:
        measure["where"] = where
    if form.get(f"{prefix}_format"):
        measure["format"] = form[f"{prefix}_format"]
    return measure


def _filter(form, key: str) -> dict | None:
    """A filter typed as YAML, such as {status: confirmed}."""
    typed = form.get(key, "").strip()
    if not typed:
        return None
    doc = read_document(key, typed)
    if doc.problems or not isinstance(doc.data, dict):
        raise ValidationFailed(
            {key: f"'{typed}' is not a filter such as {{status: {{not_in: [draft, cancelled]}}}}"}
        )
    return doc.data


def changed_dashboard(form, dashboard: dict, reports: list[str]) -> dict:
    """The dashboard as arranged: each tile's place and width, tiles taken off, one added."""
    tiles = []
    for i, tile in enumerate(dashboard.get("tiles") or []):
        if form.get(f"t{i}_remove"):
            continue
        place = form.get(f"t{i}_place", "").strip()
        width = form.get(f"t{i}_width", "1")
        tiles.append(
            (
                int(place) if place.isdecimal() else i + 1,
                i,
                {
                    "report": tile["report"],
                    **({"width": int(width)} if width in ("2", "3") else {}),
                },
            )
        )
    added = form.get("tile_report", "")
    if added:
        if added not in reports:
            raise ValidationFailed({"tile_report": msg("there is no report '{name}'", name=added)})
        tiles.append((len(tiles) + 1000, len(tiles), {"report": added}))
    chosen = form.get("date_range") or dashboard.get("date_range")
    return {
        **({"date_range": chosen} if chosen else {}),
        "tiles": [tile for _, _, tile in sorted(tiles, key=lambda t: t[:2])],
    }


def _relabel(form, key: str) -> dict:
    """The languages a relabel form gives; the others keep their label."""
    return {
        lang: form[f"{key}_relabel_{lang}"].strip()
        for lang in ("en", "zh")
        if form.get(f"{key}_relabel_{lang}", "").strip()
    }


def _readonly_between(text: str, entity: str, before: str, after: str) -> list[str]:
    """The fields read-only in both states a new one sits between (or in the one it
    comes from): a state between Confirmed and Picking keeps an order's lines as they do."""
    data = read_document("edit.yaml", text).data or {}
    states = ((data.get("entities") or {}).get(entity) or {}).get("workflow", {}).get("states", {})
    held = [
        set((states.get(name) or {}).get("readonly") or ())
        for name in (before.strip(), after.strip())
        if name
    ]
    kept = set.intersection(*held) if held else set()
    return sorted(kept)


def _list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _label(form, en: str, zh: str, fallback: str) -> dict:
    english = form.get(en) or fallback
    return {"en": english, "zh": form.get(zh) or english}


def _name(form, key: str) -> str:
    name = form.get(key, "").strip()
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", name):
        raise ValidationFailed(
            {key: msg("'{value}' must be lower-case letters, digits and _", value=name)}
        )
    return name


def edited_setting(form, key: str, value):
    """An action's setting as the form changed it, keeping its kind: a list stays a list,
    a number a number. Settings the form does not show (lists of mappings) are kept."""
    if isinstance(value, dict):
        return {k: edited_setting(form, f"{key}.{k}", v) for k, v in value.items()}
    if key not in form:
        return value
    if isinstance(value, str) and "\n" in value:  # a text area: its lines as they are
        return form[key].replace("\r\n", "\n")
    typed = form[key].strip()
    if isinstance(value, list):
        return _list(typed)
    if isinstance(value, bool | int | float) and typed:
        try:
            parsed = yaml.safe_load(typed)
        except yaml.YAMLError:
            parsed = None
        if not isinstance(parsed, bool | int | float):
            kind = msg("yes or no") if isinstance(value, bool) else msg("a number")
            raise ValidationFailed({key: msg("'{value}' is not {kind}", value=typed, kind=kind)})
        return parsed
    return typed
