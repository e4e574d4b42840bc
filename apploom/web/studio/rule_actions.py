"""A rule's actions in the studio's editor: what their forms offer (roles, user fields,
fields a set may change, transitions, email addresses), and each form read back into
the action's settings as the definition writes them."""

from __future__ import annotations

import re

from apploom.engine.definitions.model import Entity
from apploom.engine.definitions.reading import read_document
from apploom.engine.errors import ValidationFailed
from apploom.engine.messages import msg
from apploom.web.context import runtime
from apploom.web.studio import forms
from apploom.web.studio.routes import _app, _roles, bp

# The actions the editor offers to add, in the order it lists them; the others a rule
# may name (a plugin's) are edited as their settings.
ADDABLE = ("notify", "set", "transition", "email", "assign", "create", "update", "webhook")


def action_choices(app: str, entity: Entity) -> dict:
    """What the action forms offer: roles, users, user fields, fields a set may change,
    the workflow's transitions, the email fields a message may go to, the entities a
    record may be made or changed in."""
    types = runtime().types
    emails = [
        f"{{{f.name}}}" for f in entity.fields.values() if types[f.type].input_type == "email"
    ]
    for ref in entity.fields.values():
        if types[ref.type].is_reference and ref.to:
            target = runtime().apps.entity(ref.to).fields.values()
            emails += [
                f"{{{ref.name}.{f.name}}}" for f in target if types[f.type].input_type == "email"
            ]
    return {
        "roles": _roles(_app(app)),
        "users": runtime().users.everyone_active(),
        "user_fields": [f for f in entity.fields.values() if types[f.type].is_user],
        "settable": settable(entity),
        "settable_in": settable,
        "targets": {e.qualified: e for e in runtime().apps.entities() if not e.is_child},
        "transitions": entity.workflow.transitions if entity.workflow else {},
        "emails": emails,
        "addable": [k for k in ADDABLE if k != "transition" or entity.workflow],
    }


def settable(entity: Entity, tables: bool = False) -> list:
    """The fields a rule may give a value: typed ones, not worked out, not the status
    (a transition moves it), and a table (its rows as an expression) only if asked."""
    types = runtime().types
    status = entity.workflow.field if entity.workflow else None
    return [
        f
        for f in entity.fields.values()
        if not types.computed(f) and f.name != status and (tables or not f.holds_rows)
    ]


def posted_actions(form, actions: list) -> list[dict]:
    """The actions as their forms say, in order; a removed one dropped. An action's
    settings the form does not show are kept. ``ValidationFailed`` names every input
    at fault."""
    problems: dict = {}
    done = [{kind: params} for _, kind, params in as_filled(form, actions, problems)]
    if problems:
        raise ValidationFailed(problems)
    return done


def as_filled(form, actions: list, problems: dict) -> list[tuple[int, str, object]]:
    """(number, kind, settings) of each action not removed, as its form was filled in,
    what is at fault put in ``problems``: to save, or to show the forms again."""
    found = sorted(int(m[1]) for key in form if (m := re.fullmatch(r"a(\d+):kind", key)))
    filled = []
    for n in found:
        kind, key = form[f"a{n}:kind"], f"a{n}"
        if form.get(f"{key}:remove"):
            continue
        before = next(iter(actions[n].items())) if n < len(actions) else None
        params = before[1] if before and before[0] == kind else None
        filled.append((n, kind, _action(form, key, kind, params, problems)))
    return filled


def _action(form, key: str, kind: str, params, problems: dict):
    """One action's settings from its form; ``params`` are its settings before (None
    for a new one). What is missing or wrong goes into ``problems``, by input."""
    if kind == "notify":
        kept = {k: v for k, v in (params or {}).items() if k == "robot"}
        message = _worded(form, f"{key}.message")
        if not message:
            problems[f"{key}.message"] = msg("Notify: write the message")
        told = {
            "roles": form.getlist(f"{key}.roles"),
            "users": names_typed(form.get(f"{key}.users", "")),
            "to": form.getlist(f"{key}.to"),
        }
        return {**{k: v for k, v in told.items() if v}, **kept, "message": message}
    if kind == "set":
        pairs = _pairs(form, key, "", problems)
        if not pairs:
            problems[f"{key}.f0"] = msg("Set: choose a field")
        return pairs
    if kind in ("create", "update"):
        target = form.get(f"{key}.entity", "")
        if not target:
            problems[f"{key}.entity"] = msg("Choose the entity of the record")
        made = {k: v for k, v in (params or {}).items() if k not in ("entity", "where", "values")}
        where = {"where": _pairs(form, key, "w", problems)} if kind == "update" else {}
        if kind == "update" and not where["where"]:
            problems[f"{key}.wf0"] = msg("Choose which records, by a field of theirs")
        return {"entity": target, **where, "values": _pairs(form, key, "", problems), **made}
    if kind == "transition":
        return form.get(f"{key}.name", "")
    if kind == "email":
        to = names_typed(form.get(f"{key}.to", ""))
        email = {
            "to": to if len(to) > 1 or isinstance((params or {}).get("to"), list) else "".join(to),
            "subject": _worded(form, f"{key}.subject"),
            "body": _worded(form, f"{key}.body"),
        }
        kept = {k: v for k, v in (params or {}).items() if k not in email}
        return {**kept, **{k: v for k, v in email.items() if v}}
    if kind == "assign":
        return {"field": form.get(f"{key}.field", ""), "rules": _routes(form, key, problems)}
    if kind == "script":
        return form.get(f"{key}.source", "").replace("\r\n", "\n").strip()
    if params is not None:  # create, update, a webhook, a plugin's: as its settings
        try:
            return forms.edited_setting(form, key, params)
        except ValidationFailed as exc:
            problems.update(exc.fields)
            return params
    typed = form.get(f"{key}.yaml", "").strip() or "{}"
    doc = read_document(key, typed)
    if doc.problems or not isinstance(doc.data, dict):
        problems[f"{key}.yaml"] = msg(
            "{kind}: '{typed}' is not settings such as {{a: b}}", kind=kind, typed=typed
        )
        return {}
    return doc.data


def _pairs(form, key: str, prefix: str, problems: dict) -> dict:
    """Rows of a field and an expression (``{key}.{prefix}f0``, ``{key}.{prefix}v0``, …)
    as the definition writes them; a row whose field is chosen needs its value."""
    pairs = {}
    fields = rf"{re.escape(key)}\.{prefix}f(\d+)"
    for n in sorted({int(m[1]) for k in form if (m := re.fullmatch(fields, k))}):
        field = form.get(f"{key}.{prefix}f{n}", "")
        value = form.get(f"{key}.{prefix}v{n}", "").strip()
        if field and not value:
            problems[f"{key}.{prefix}v{n}"] = msg("Give {field} a value", field=field)
        if field:
            pairs[field] = value
    return pairs


def _routes(form, key: str, problems: dict) -> list[dict]:
    """An assignment's rules as their rows say, in order: whom (the user who made the
    change, a user, or a role's users taking turns), only if a condition holds. A row
    with neither is left out; with no row at all, the user who made the change."""
    routes = []
    for n in sorted({int(m[1]) for k in form if (m := re.fullmatch(rf"{key}\.to(\d+)", k))}):
        whom, condition = form.get(f"{key}.to{n}", ""), form.get(f"{key}.if{n}", "").strip()
        kind, _, name = whom.partition(":")
        route = {"if": condition} if condition else {}
        if whom == "me" or kind == "user":
            routes.append({**route, "to": name or whom})
        elif kind == "role":
            routes.append({**route, "role": name})
        elif condition:
            problems[f"{key}.to{n}"] = msg(
                "Assign: choose whom, if {condition}", condition=condition
            )
    return routes or [{"to": "me"}]


def names_typed(typed: str) -> list[str]:
    """A list typed with commas, as either language writes them (a, b / 甲，乙、丙)."""
    return [part.strip() for part in re.split(r"[,，、]", typed) if part.strip()]


def _worded(form, key: str) -> str | dict:
    """A text given in Chinese and English (``key_zh``, ``key_en``): one for each
    language, or the one text when only one is given or both say the same."""
    given = {lang: form.get(f"{key}_{lang}", "").replace("\r\n", "\n") for lang in ("zh", "en")}
    said = {lang: text for lang, text in given.items() if text.strip()}
    return next(iter(said.values())) if len(set(said.values())) == 1 else said


@bp.app_template_filter("message_parts")
def message_parts(message: str | dict | None) -> dict:
    """A message, a subject or a body as the form shows it: its Chinese and its English
    (one text alone goes where its script says)."""
    if not message:
        return {"zh": "", "en": ""}
    if isinstance(message, dict):
        return {"zh": message.get("zh", ""), "en": message.get("en", "")}
    chinese = re.search(r"[\u3400-\u9fff]", message) is not None
    return {"zh": message if chinese else "", "en": "" if chinese else message}
