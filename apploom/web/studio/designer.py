"""The studio's designer: an app as a business admin sees it (its entities, and one
workflow drawn as a diagram), and the diagram's edit panels read into changes of the
definition's text. A change goes to the studio's usual preview and apply."""

from __future__ import annotations

from apploom.engine.definitions.model import App, Entity, Label
from apploom.engine.definitions.reading import read_document
from apploom.engine.errors import ValidationFailed
from apploom.engine.messages import msg
from apploom.engine.versions import text_edits
from apploom.engine.workflow.definition import ANY, COLOURS, Transition, Workflow, parse_workflow
from apploom.web.i18n import label, shown_name, translate
from apploom.web.studio.diagram import draw
from apploom.web.studio.names import NAME, free_name, new_name


def view(definition: App, args, roles: list[str], language: str) -> dict:
    """What the designer page shows: the entities, the workflow chosen (the first one
    unless ``flow`` names another), its diagram, the panel the admin opened, and the
    roles a transition may be given (the app's, and any its transitions name)."""
    entities = [e for e in definition.entities.values() if not e.is_child]
    flows = [e for e in entities if e.workflow is not None]
    flow = next((e for e in flows if e.name == args.get("flow")), flows[0] if flows else None)
    panel, chosen = _panel(flow, args)
    return {
        "entities": entities,
        "flows": flows,
        "flow": flow,
        "diagram": draw(flow.workflow, language) if flow and flow.workflow else None,
        "panel": panel,
        "chosen": chosen,
        "colours": COLOURS,
        "roles": sorted(
            set(roles).union(*(t.roles or () for t in flow.workflow.transitions.values()))
            if flow and flow.workflow
            else roles
        ),
    }


def _panel(flow: Entity | None, args) -> tuple[str | None, object]:
    """The open panel and the state or transition it edits (None for a new one)."""
    if flow is None or flow.workflow is None:
        return None, None
    if args.get("state") in flow.workflow.states:
        return "state", flow.workflow.states[args["state"]]
    if args.get("transition") in flow.workflow.transitions:
        return "transition", flow.workflow.transitions[args["transition"]]
    if args.get("add") == "state":
        return "add_state", None
    if args.get("add") == "transition":  # an arrow drawn from one box to another
        states = flow.workflow.states
        drawn = [s for s in (args.get("from"), args.get("to")) if s in states]
        if len(drawn) == 2:
            return "add_transition", {"sources": drawn[:1], "target": drawn[1], "roles": None}
        return "add_transition", None
    return None, None


def edited_text(form, text: str, entity: str, workflow: Workflow) -> str:
    """The text with the change a panel's form asks for, to ``entity``'s workflow."""
    kind, base = form.get("edit"), ("entities", entity, "workflow")
    label = _label(form, "label")
    if kind == "state":
        name = _known(form.get("name", ""), workflow.states, "name")
        changes: dict = {"label": _filled(label, name), "colour": _colour(form)}
        if form.get("full"):  # the panel's final and read-only settings were sent
            changes["final"] = True if form.get("final") else None
            changes["readonly"] = form.getlist("readonly") or None
        return text_edits.change_entry(text, base + ("states", name), changes)
    if kind == "add_state":
        return _added_state(form, text, entity, workflow, label)
    if kind == "remove_state":
        return _removed_state(
            text, base, workflow, _known(form.get("name", ""), workflow.states, "name")
        )
    if kind == "remove_transition":
        name = _known(form.get("name", ""), workflow.transitions, "name")
        return text_edits.remove_block(text, base + ("transitions", name))
    if kind not in ("transition", "add_transition"):
        raise ValidationFailed(
            {"edit": msg("'{kind}' is not a change the designer makes", kind=kind)}
        )
    sources = [_known(s, {**workflow.states, ANY: None}, "from") for s in form.getlist("from")]
    if not sources:
        raise ValidationFailed({"from": msg("choose the status (or statuses) it leaves")})
    move: dict = {
        "from": sources[0] if len(sources) == 1 else sources,
        "to": _known(form.get("to", ""), workflow.states, "to"),
        "roles": form.getlist("roles") or None,  # none ticked: whoever may edit the record
    }
    if kind == "transition":
        name = _known(form.get("name", ""), workflow.transitions, "name")
        move["label"] = _filled(label, name)
        if form.get("full"):  # the panel's guard settings were sent
            move.update(_guarded(form))
        return text_edits.change_entry(text, base + ("transitions", name), move)
    name = _new_name(form, label, workflow.transitions, "transition")
    spec = {"label": _filled(label, name), **{k: v for k, v in move.items() if v}}
    return text_edits.add_transition(text, entity, name, spec)


def _added_state(form, text: str, entity: str, workflow: Workflow, label: dict) -> str:
    """A new status, with the transition into it from the one it comes after and, if
    chosen, one on to the next: a status nothing leads to, or that nothing leaves,
    would only be warned about and could not be applied."""
    name = _new_name(form, label, workflow.states, "state")
    spec: dict = {"label": _filled(label, name), "colour": _colour(form)}
    if form.get("final"):
        spec["final"] = True
    roles = {"roles": form.getlist("roles")} if form.getlist("roles") else {}
    after = _known(form.get("after", ""), workflow.states, "after")
    moves = {
        free_name(f"to_{name}", workflow.transitions): {
            "label": spec["label"],
            "from": after,
            "to": name,
            **roles,
        }
    }
    then = form.get("then", "")
    if then:
        target = workflow.states[_known(then, workflow.states, "then")]
        moves[free_name(f"{name}_done", workflow.transitions)] = {
            "label": {"en": target.label.en, "zh": target.label.zh},
            "from": name,
            "to": then,
            **roles,
        }
    return text_edits.add_state(text, entity, name, spec, moves)


def _guarded(form) -> dict:
    """A transition's guard, as the panel sets it: the condition it needs (``if``), what
    the user is told when it does not hold, the fields it needs filled, and the
    question asked before it is taken. An empty one is removed."""
    condition = form.get("guard", "").strip()
    return {
        "if": condition or None,
        "refusal": _optional(_label(form, "refusal")) if condition else None,
        "require": form.getlist("require") or None,
        "confirm": _optional(_label(form, "confirm")),
    }


def _removed_state(text: str, base: tuple, workflow: Workflow, name: str) -> str:
    """The text without a status: the transitions into it go too, and those leaving it
    and others leave the others only. Records in it are the preview's data question."""
    if name == workflow.initial:
        raise ValidationFailed(
            {"name": msg("a new record starts in this status: choose another first")}
        )
    text = text_edits.remove_block(text, base + ("states", name))
    for move in workflow.transitions.values():
        path = base + ("transitions", move.name)
        kept = [s for s in move.sources if s != name]
        if move.target == name or not kept:
            text = text_edits.remove_block(text, path)
        elif len(kept) < len(move.sources):
            text = text_edits.change_entry(
                text, path, {"from": kept[0] if len(kept) == 1 else kept}
            )
    return text


def _label(form, prefix: str) -> dict:
    return {lang: form.get(f"{prefix}_{lang}", "").strip() for lang in ("en", "zh")}


def _optional(label: dict) -> dict | None:
    """A label in both languages, or None when neither is given."""
    return _filled(label, "") if label["en"] or label["zh"] else None


def _known(name: str, known, key: str) -> str:
    if name not in known:
        raise ValidationFailed(
            {key: msg("'{name}' is not one of {known}", name=name, known=", ".join(known))}
        )
    return name


def _colour(form) -> str:
    colour = form.get("colour", "grey")
    if colour not in COLOURS:
        raise ValidationFailed(
            {"colour": msg("'{name}' is not one of {known}", name=colour, known=", ".join(COLOURS))}
        )
    return colour


def _filled(label: dict, name: str) -> dict:
    """A label in both languages: one left empty takes the other's (or the name)."""
    english = label["en"] or label["zh"] or name
    return {"en": english, "zh": label["zh"] or english}


def _new_name(form, label: dict, taken, kind: str) -> str:
    """The name typed, or one made from the English label (a Chinese-only label gives
    ``state``, then ``state_2``): names are what rules and the API call it by."""
    typed = form.get("name", "").strip()
    if typed and not NAME.fullmatch(typed):
        raise ValidationFailed(
            {"name": msg("'{name}' must be lower-case letters, digits and _", name=typed)}
        )
    if typed in taken:
        raise ValidationFailed({"name": msg("there is already one called '{name}'", name=typed)})
    return typed or new_name(label["en"], taken, kind)


def described(old: Workflow, text: str, entity: str) -> list[str]:
    """What the changed text does to the workflow, in the admin's words and language:
    the statuses and transitions added, renamed, recoloured, moved or given to others."""
    data = read_document("changed.yaml", text).data
    new = parse_workflow(data["entities"][entity]["workflow"])
    said = [
        translate("Status %s is removed") % label(state.label)
        for name, state in old.states.items()
        if name not in new.states
    ]
    said += [
        translate("Transition %s is removed") % label(move.label)
        for name, move in old.transitions.items()
        if name not in new.transitions
    ]
    for name, state in new.states.items():
        before = old.states.get(name)
        if before is None:
            said.append(translate("New status: %s") % _names(state.label))
            continue
        if state.final != before.final:
            said.append(
                (
                    translate("Status %s is now final")
                    if state.final
                    else translate("Status %s is no longer final")
                )
                % label(state.label)
            )
        if state.label != before.label:
            said.append(
                translate("Status %s is now called %s") % (label(before.label), _names(state.label))
            )
        if state.colour != before.colour:
            said.append(
                translate("Status %s is now %s") % (label(state.label), shown_name(state.colour))
            )
    for name, move in new.transitions.items():
        was = old.transitions.get(name)
        if was is None:
            said.append(translate("New transition %s: %s") % (_names(move.label), _way(new, move)))
            continue
        if move.label != was.label:
            said.append(
                translate("Transition %s is now called %s") % (label(was.label), _names(move.label))
            )
        if (move.sources, move.target) != (was.sources, was.target):
            said.append(
                translate("Transition %s now goes %s") % (label(move.label), _way(new, move))
            )
        if move.guard != was.guard:
            said.append(
                translate("Transition %s now needs %s") % (label(move.label), move.guard)
                if move.guard
                else translate("Transition %s no longer needs a condition") % label(move.label)
            )
        if move.roles != was.roles:
            who = translate(", ").join(map(shown_name, move.roles)) if move.roles else None
            said.append(
                translate("Transition %s may now be taken by %s")
                % (label(move.label), who or translate("whoever may edit the record"))
            )
    return said


def _names(given: Label) -> str:
    """A label in the admin's language, and in the other one if it differs."""
    first, other = label(given), given.en if label(given) == given.zh else given.zh
    return first if other == first else f"{first} / {other}"


def _way(workflow: Workflow, move: Transition) -> str:
    sources = [
        translate("any status") if s == ANY else label(workflow.states[s].label)
        for s in move.sources
    ]
    return translate("from %s to %s") % (
        translate(", ").join(sources),
        label(workflow.states[move.target].label),
    )
