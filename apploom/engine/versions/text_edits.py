"""Changing a definition's text as a person would: the studio's forms (add a field,
relabel it, make it required, retire it, add a status) edit the YAML in place, line by
line, so comments, order and layout stay as the admin left them, and the diff shows
only what changed. Every edit then goes through the same check, preview and apply as
a hand edit."""

from __future__ import annotations

import re
from typing import Any

import yaml

from apploom.engine.definitions.reading import Dumper, read_document
from apploom.engine.errors import ValidationFailed
from apploom.engine.messages import msg


def add_field(text: str, entity: str, name: str, spec: dict) -> str:
    """The definition with one more field at the end of ``entity``'s fields."""
    fields = _mapping(text, ("entities", entity, "fields"))
    if name in fields:
        raise ValidationFailed(
            {"name": msg("{entity} already has a field '{name}'", entity=entity, name=name)}
        )
    return _insert_after(text, ("entities", entity, "fields", list(fields)[-1]), name, spec)


def change_field(text: str, entity: str, name: str, changes: dict) -> str:
    """The field rewritten with ``changes`` merged in (None removes a setting)."""
    return change_entry(text, ("entities", entity, "fields", name), changes)


def change_entry(text: str, path: tuple, changes: dict) -> str:
    """A named entry (a field, a state, a transition) rewritten on one line with
    ``changes`` merged in (None removes a setting)."""
    spec = dict(_mapping(text, path[:-1]).get(path[-1]) or {})
    if not spec and path[-1] not in _mapping(text, path[:-1]):
        raise ValidationFailed({"name": msg("there is no {path}", path=".".join(path))})
    spec.update(_merged(spec, changes))
    spec = {k: v for k, v in spec.items() if v is not None}
    lines = text.splitlines(keepends=True)
    start, end = _span(text, path)
    said = re.match(r"\s*\S+:\s+(#.*)$", lines[start].rstrip("\n"))  # a block's key's note
    note = f"  {said.group(1)}" if said else ""
    lines[start:end] = [f"{' ' * _indent(lines[start])}{path[-1]}: {flow(spec)}{note}\n"]
    return "".join(lines)


def add_entity(text: str, name: str, spec: dict) -> str:
    """One more entity, at the end of the app's entities."""
    if name in _mapping(text, ("entities",)):
        raise ValidationFailed({"name": msg("there is already an entity '{name}'", name=name)})
    return set_block(text, ("entities", name), spec)


def change_entity(text: str, name: str, changes: dict) -> str:
    """The entity's own settings (its label, its icon) written anew, each in its place."""
    spec = _mapping(text, ("entities", name))  # names an entity that is not there
    for key, value in _merged(spec, changes).items():
        text = set_block(text, ("entities", name, key), value)
    return text


def _merged(spec: dict, changes: dict) -> dict:
    """``changes``, where a label gives some languages, keeping the label's others."""
    return {
        key: {**spec[key], **value} if key == "label" and isinstance(spec.get(key), dict) else value
        for key, value in changes.items()
    }


LAYOUT_KEYS = ("rows:", "columns:", "filters:", "search:", "sort:", "[", "- [")


def retire_field(text: str, entity: str, name: str) -> str:
    """The definition without the field, nor its place on the form and in the list;
    applying it archives the column with its data."""
    if name not in _mapping(text, ("entities", entity, "fields")):
        raise ValidationFailed(
            {"name": msg("{entity} has no field '{name}'", entity=entity, name=name)}
        )
    lines = text.splitlines(keepends=True)
    start, end = _span(text, ("entities", entity, "fields", name))
    del lines[start:end]
    first, last = _span("".join(lines), ("entities", entity))
    mention = re.compile(rf"(?<=[\[,\s])-?{re.escape(name)}(?=\s*[\],])")
    for i in range(first, last):
        if lines[i].lstrip().startswith(LAYOUT_KEYS):
            lines[i] = _tidy(mention.sub("", lines[i]))
            if lines[i].strip() == "- []":  # a form row written as a list item, now empty
                lines[i] = ""
    return "".join(lines)


def _tidy(line: str) -> str:
    """A flow list with an item taken out: no stray commas, no empty form rows."""
    for old, new in (
        (r",\s*,", ","),
        (r"\[\s*,\s*", "["),
        (r",\s*\]", "]"),
        (r"\[\s*\],\s*", ""),
        (r",\s*\[\s*\]", ""),
    ):
        line = re.sub(old, new, line)
    return line


def add_state(text: str, entity: str, name: str, spec: dict, transitions: dict[str, dict]) -> str:
    """One more workflow state, with the transitions that lead into and out of it."""
    states = _mapping(text, ("entities", entity, "workflow", "states"))
    if name in states:
        raise ValidationFailed(
            {"name": msg("{entity} already has a state '{name}'", entity=entity, name=name)}
        )
    text = _insert_after(
        text, ("entities", entity, "workflow", "states", list(states)[-1]), name, spec
    )
    for transition, settings in transitions.items():
        text = add_transition(text, entity, transition, settings)
    return text


def add_transition(text: str, entity: str, name: str, spec: dict) -> str:
    """One more workflow transition, after the entity's others."""
    known = _mapping(text, ("entities", entity, "workflow", "transitions"))
    if name in known:
        raise ValidationFailed(
            {
                "transition": msg(
                    "{entity} already has a transition '{name}'", entity=entity, name=name
                )
            }
        )
    return _insert_after(
        text, ("entities", entity, "workflow", "transitions", list(known)[-1]), name, spec
    )


def rules_of(text: str, entity: str) -> list:
    """The entity's rules as written (an empty list if it has none)."""
    return list(_mapping(text, ("entities", entity)).get("rules") or [])


def add_rule(text: str, entity: str, rule: dict) -> str:
    """One more automation rule, after the entity's others, written as a block."""
    path = ("entities", entity, "rules")
    doc = read_document("edit.yaml", text)
    rules = rules_of(text, entity)
    if any(r.get("name") == rule["name"] for r in rules if isinstance(r, dict)):
        raise ValidationFailed(
            {"name": msg("{entity} already has a rule '{name}'", entity=entity, name=rule["name"])}
        )
    if path not in doc.lines or not rules:
        return set_block(text, path, [*rules, rule])
    lines = text.splitlines(keepends=True)
    start, end = _span(text, path)
    item = next(line for line in lines[start + 1 : end] if line.lstrip().startswith("- "))
    if lines and not lines[end - 1].endswith("\n"):
        lines[end - 1] += "\n"
    dash = " " * _indent(item)
    lines[end:end] = [dash + line + "\n" for line in _block([_steps(rule)]).splitlines()]
    return "".join(lines)


def change_rule(text: str, entity: str, index: int, rule: dict | None) -> str:
    """The entity's rule at ``index`` written anew as ``rule``, in its place; None removes
    it. The other rules, and their comments, stay as they are."""
    path = ("entities", entity, "rules")
    rules = rules_of(text, entity)
    if not 0 <= index < len(rules):
        raise ValidationFailed(
            {"rule": msg("{entity} has no rule number {number}", entity=entity, number=index + 1)}
        )
    if rule == {"name": f"rule_{index + 1}", **rules[index]}:
        return text  # said as it was: its lines, their comments and quotes stay
    if rule is None and len(rules) == 1:
        return remove_block(text, path)
    lines = text.splitlines(keepends=True)
    start = read_document("edit.yaml", text).lines[(*path, index)] - 1
    if not lines[start].lstrip().startswith("- "):  # a list written in one line
        return set_block(
            text,
            path,
            [r for i, r in enumerate(rules) if i != index]
            if rule is None
            else [*rules[:index], rule, *rules[index + 1 :]],
        )
    dash, end = _indent(lines[start]), start + 1
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > dash):
        end += 1
    end = _trimmed(lines, start, end)
    if end == len(lines) and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    written = [] if rule is None else _block([_steps(rule)]).splitlines()
    said = re.match(r"\s*- [^#]*?(\s+#.*)$", lines[start].rstrip("\n"))  # its first line's note
    if written and said:
        written[0] += said.group(1)
    lines[start:end] = [" " * dash + line + "\n" for line in written]
    return "".join(lines)


def _steps(rule: dict) -> dict:
    """A rule whose actions are written one a line, as the bundled rules are."""
    return {**rule, "do": _Steps(rule["do"])} if isinstance(rule.get("do"), list) else rule


def add_report(text: str, name: str, report: dict, on_dashboard: bool) -> str:
    """One more report (and its tile on the app's dashboard)."""
    reports = _mapping(text, ()).get("reports") or {}
    if name in reports:
        raise ValidationFailed({"name": msg("there is already a report '{name}'", name=name)})
    text = (
        _insert_after(text, ("reports", list(reports)[-1]), name, report)
        if reports
        else set_block(text, ("reports",), {name: report})
    )
    return show_on_dashboard(text, name, on_dashboard)


def change_report(text: str, name: str, report: dict | None, on_dashboard: bool) -> str:
    """The report written anew as ``report`` in its place, shown on the dashboard or not;
    None removes it, with its tile."""
    reports = _mapping(text, ()).get("reports") or {}
    if name not in reports:
        raise ValidationFailed({"name": msg("there is no report '{name}'", name=name)})
    if report is None:
        only = len(reports) == 1
        text = remove_block(text, ("reports",) if only else ("reports", name))
        return show_on_dashboard(text, name, False)
    return show_on_dashboard(set_block(text, ("reports", name), report), name, on_dashboard)


def show_on_dashboard(text: str, name: str, shown: bool) -> str:
    """The dashboard with the report's tile added at the end, or taken off."""
    dashboard = dict(_mapping(text, ()).get("dashboard") or {})
    tiles = list(dashboard.get("tiles") or [])
    tiled = any(t.get("report") == name for t in tiles)
    if shown == tiled:
        return text
    tiles = [*tiles, {"report": name}] if shown else [t for t in tiles if t.get("report") != name]
    return set_dashboard(text, {**dashboard, "tiles": tiles})


def set_dashboard(text: str, dashboard: dict) -> str:
    """The app's dashboard written anew; with no tile left, there is no dashboard."""
    if not dashboard.get("tiles"):
        return remove_block(text, ("dashboard",))
    return set_block(text, ("dashboard",), dashboard)


def set_block(text: str, path: tuple, value: Any) -> str:
    """The setting at ``path`` (an entity's form or list) written anew as ``value``, in
    place; a setting not there yet goes at the end of its parent."""
    doc = read_document("edit.yaml", text)
    lines = text.splitlines(keepends=True)
    lead = ""  # what the first line starts with: its indent, and a list item's dash
    if path in doc.lines:
        start, end = _span(text, path)
        first = lines[start].lstrip()
        indent = _indent(lines[start]) + (2 if first.startswith("- ") else 0)
        lead = lines[start][:indent]
    elif len(path) == 1:  # a top-level setting not there yet: at the end of the file
        start = end = len(lines)
        indent = 0
    else:
        _, end = _span(text, path[:-1])
        parent = _span(text, path[:-1])[0]
        indent = len(lines[parent]) - len(lines[parent].lstrip()) + 2
        start = end
    block = _block({path[-1]: value})
    if lines and start == len(lines) and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    written = [" " * indent + line + "\n" for line in block.splitlines()]
    if lead:
        written[0] = lead + written[0][indent:]
    if len(written) == 1 and end == start + 1:  # one line for one: its note stays
        written[0] = written[0][:-1] + _note(lines[start]) + "\n"
    lines[start:end] = written
    return "".join(lines)


def _note(line: str) -> str:
    """The comment at the end of a line ("  # why"), outside quotes; "" if none."""
    for found in re.finditer(r"\s+#", line):
        before = line[: found.start()]
        if before.count("'") % 2 == 0 and before.count('"') % 2 == 0:
            return "  " + line[found.end() - 1 :].rstrip("\n")
    return ""


def append_items(text: str, path: tuple, items: list) -> str:
    """``items`` after the last item of the block list at ``path`` (a form's sections),
    written as its items are, so the diff shows what is added and nothing else."""
    doc = read_document("edit.yaml", text)
    last = (*path, len(_list_at(doc.data, path)) - 1)
    lines = text.splitlines(keepends=True)
    if last not in doc.lines or not lines[doc.lines[last] - 1].lstrip().startswith("- "):
        raise _uneditable(path)
    start = doc.lines[last] - 1
    dash = _indent(lines[start])
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > dash):
        end += 1
    end = _trimmed(lines, start, end)
    lines[end:end] = [" " * dash + line + "\n" for line in _block(items).splitlines()]
    return "".join(lines)


def _list_at(data: Any, path: tuple) -> list:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data if isinstance(data, list) and data else []


def remove_block(text: str, path: tuple) -> str:
    """The definition without the setting at ``path`` (nothing to do if it is not there)."""
    if path not in read_document("edit.yaml", text).lines:
        return text
    lines = text.splitlines(keepends=True)
    start, end = _span(text, path)
    del lines[start:end]
    return "".join(lines)


def _mapping(text: str, path: tuple) -> dict:
    doc = read_document("edit.yaml", text)
    if doc.problems:
        raise ValidationFailed({"text": str(doc.problems[0])})
    found: Any = doc.data
    if not path:
        return found
    for key in path:
        if not isinstance(found, dict) or key not in found:
            where = path[-2] if len(path) > 1 else "text"
            missing = msg("the definition has no {path}", path=".".join(map(str, path)))
            raise ValidationFailed({where: missing})
        found = found[key]
    if not isinstance(found, dict) or not found:
        raise ValidationFailed({"text": msg("{path} is not a list of names", path=".".join(path))})
    return found


def _span(text: str, path: tuple) -> tuple[int, int]:
    """The lines (start, end) that hold ``path``'s key and its value."""
    lines = text.splitlines()
    start = read_document("edit.yaml", text).lines[path] - 1
    key = f"{path[-1]}:"
    first = lines[start].lstrip()
    dash = 2 if first.startswith("- ") and first[2:].startswith(key) else 0  # an item's key
    if not dash and not first.startswith(key):  # a block value: its key is above it
        inner = _indent(lines[start]) + lines[start].lstrip().startswith("- ")  # a list may
        above = next(
            (
                i
                for i in range(start - 1, -1, -1)  # sit at its key's indent
                if lines[i].lstrip().startswith(key) and _indent(lines[i]) < inner
            ),
            None,
        )
        if above is None:
            raise _uneditable(path)
        start = above
    indent = _indent(lines[start]) + dash
    block_list = lines[start].rstrip().endswith(":")  # its items may sit at its indent
    end = start + 1
    while end < len(lines) and (
        not lines[end].strip()
        or lines[end].lstrip().startswith("#")
        or _indent(lines[end]) > indent
        or (block_list and _indent(lines[end]) == indent and lines[end].lstrip().startswith("- "))
    ):
        end += 1
    return start, _trimmed(lines, start, end)


def _uneditable(path: tuple) -> ValidationFailed:
    return ValidationFailed(
        {
            "text": msg(
                "{path} is written in a way the forms cannot edit; change it in the text",
                path=".".join(map(str, path)),
            )
        }
    )


def _trimmed(lines: list[str], start: int, end: int) -> int:
    """The end of a block without the blank lines and comments at its foot: they stand
    before the next key, and stay with it. A line indented deeper than the block's key
    may be text (a ``|`` block's last line may start with #), so it stays in."""
    key = _indent(lines[start])
    while end > start + 1 and (
        not lines[end - 1].strip()
        or (lines[end - 1].lstrip().startswith("#") and _indent(lines[end - 1]) <= key)
    ):
        end -= 1
    return end


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _insert_after(text: str, sibling: tuple, name: str, spec: dict) -> str:
    lines = text.splitlines(keepends=True)
    start, end = _span(text, sibling)
    indent = len(lines[start]) - len(lines[start].lstrip())
    if end == len(lines) and lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    lines.insert(end, f"{' ' * indent}{name}: {flow(spec)}\n")
    return "".join(lines)


class _Dumper(Dumper):
    """As the bundled definitions are written: lists indented under their key, short
    mappings and lists on one line, expressions with quotes in double quotes."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        return super().increase_indent(flow, False)

    def choose_scalar_style(self) -> str:
        style = super().choose_scalar_style()
        return '"' if style == "'" else style


class _Setting(dict):
    """The setting being written: always a block, whatever its length."""


class _Steps(list):
    """A rule's actions: a block list, one action a line, however short."""


def _short(value: Any) -> bool:
    return len(flow(value)) <= 80


MAP, SEQ = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
_Dumper.add_representer(
    _Setting, lambda dumper, data: dumper.represent_mapping(MAP, data, flow_style=False)
)
_Dumper.add_representer(
    dict, lambda dumper, data: dumper.represent_mapping(MAP, data, flow_style=_short(data))
)
_Dumper.add_representer(
    _Steps,
    lambda dumper, data: dumper.represent_sequence(
        SEQ, [_Setting(v) if isinstance(v, dict) else v for v in data], flow_style=False
    ),
)


def _represent_list(dumper: _Dumper, data: list) -> yaml.Node:
    """On one line if short or plain; else one item a line, and an item that holds more
    than a few plain values (a form section, a rule) as a block."""
    if _short(data) or _plain(data):
        return dumper.represent_sequence(SEQ, data, flow_style=True)
    return dumper.represent_sequence(
        SEQ,
        [
            v if not isinstance(v, dict) or (_short(v) and _plain(v.values())) else _Setting(v)
            for v in data
        ],
        flow_style=False,
    )


def _plain(values) -> bool:
    return not any(isinstance(v, dict | list) for v in values)


_Dumper.add_representer(list, _represent_list)


def _block(value: dict | list) -> str:
    """``value`` (a setting, or a list of rules) written as block YAML."""
    if isinstance(value, list):
        return "".join("- " + _block(item).replace("\n", "\n  ")[:-2] for item in value)
    return yaml.dump(
        _Setting(value), Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100
    )


def flow(value: Any) -> str:
    """``value`` as YAML on one line."""
    return yaml.dump(
        value,
        Dumper=Dumper,
        default_flow_style=True,
        allow_unicode=True,
        sort_keys=False,
        width=100_000,
    ).strip()
