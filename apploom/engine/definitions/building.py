"""Building the model from a schema-valid definition document."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any, Mapping

from apploom.engine.automation.definition import parse_rules
from apploom.engine.balances.definition import parse_balances
from apploom.engine.channels.definition import parse_channels
from apploom.engine.definitions.model import (
    ACTIONS,
    App,
    Entity,
    Field,
    Label,
    ListSpec,
    Option,
    PageLink,
    Related,
    Section,
    frozen_map,
)
from apploom.engine.prints.definition import parse_prints
from apploom.engine.reports.definition import parse_dashboard, parse_reports
from apploom.engine.workflow.definition import parse_workflow


def parse_permissions(raw: Mapping[str, Any] | None) -> Mapping[str, Mapping[str, str]]:
    """``{sales: [read, create, "update:own"], manager: all}`` -> role -> action -> scope."""
    result = {}
    for role, grants in (raw or {}).items():
        if grants == "all":
            grants = list(ACTIONS)
        scopes = {}
        for grant in grants:
            if grant == "all":
                scopes.update({a: "all" for a in ACTIONS})
                continue
            action, _, scope = grant.partition(":")
            scopes[action] = scope or "all"
        result[role] = frozen_map(scopes)
    return frozen_map(result)


def _number(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    return value


def parse_field(app: str, name: str, raw: Mapping[str, Any]) -> Field:
    type_name = raw["type"]
    if type_name == "formula":
        type_name = raw.get("returns", "decimal")
    options = tuple(
        Option(o, Label.parse(None, o))
        if isinstance(o, str)
        else Option(
            str(o["value"]),
            Label.parse(o.get("label"), str(o["value"])),
            bool(o.get("system")),
            o.get("colour"),
        )
        for o in raw.get("options", ())
    )
    to = raw.get("to")
    if to and "." not in to:
        to = f"{app}.{to}"
    of = raw.get("of")
    if of and "." not in of:
        of = f"{app}.{of}"
    return Field(
        name=name,
        type=type_name,
        label=Label.parse(raw.get("label"), name),
        help=Label.parse(raw["help"], "") if raw.get("help") else None,
        required=raw.get("required", False),
        unique=raw.get("unique", False),
        index=raw.get("index", False),
        readonly=raw.get("readonly", False),
        visible_if=raw.get("visible_if"),
        required_if=raw.get("required_if"),
        readonly_if=raw.get("readonly_if"),
        default=raw.get("default"),
        min=_number(raw.get("min")),
        max=_number(raw.get("max")),
        length=raw.get("length"),
        pattern=raw.get("pattern"),
        options=options,
        formula=raw.get("formula"),
        to=to,
        of=of,
        format=raw.get("format"),
        scale=raw.get("scale"),
        precision=raw.get("precision"),
        min_rows=raw.get("min_rows", 0),
        max_rows=raw.get("max_rows"),
        max_size=raw.get("max_size"),
        related=_related(raw.get("related")),
        locks=_names(raw.get("locks")),
        editable_by=_names(raw.get("editable_by")),
        notify=frozen_map(raw["notify"])
        if isinstance(raw.get("notify"), dict)
        else raw.get("notify"),
        default_from=raw.get("default_from"),
        fill=raw.get("fill"),
        settings=frozenset(raw),
    )


def _related(raw: Any) -> Related:
    if raw is False:
        return Related(shown=False)
    raw = raw or {}
    return Related(
        label=Label.parse(raw["label"], "") if raw.get("label") else None,
        where=frozen_map(raw.get("where") or {}),
        sums=frozen_map({k: Label.parse(v, k) for k, v in (raw.get("sum") or {}).items()}),
        latest=frozen_map({k: Label.parse(v, k) for k, v in (raw.get("latest") or {}).items()}),
        link=PageLink(Label.parse(raw["link"].get("label"), "link"), raw["link"]["to"])
        if raw.get("link")
        else None,
    )


def _names(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def parse_entity(app: str, name: str, raw: Mapping[str, Any]) -> Entity:
    fields = {fname: parse_field(app, fname, fraw) for fname, fraw in raw["fields"].items()}
    naming = raw.get("naming")
    if naming and "number" not in fields:
        fields = {
            "number": Field(
                name="number",
                type="autonumber",
                format=naming,
                label=Label(en="Number", zh="编号"),
                unique=True,
                readonly=True,
            ),
            **fields,
        }
    raw_list = raw.get("list", {})
    columns = (
        _names(raw_list.get("columns")) or tuple(f for f in fields if not fields[f].holds_rows)[:6]
    )
    list_spec = ListSpec(
        columns=columns,
        filters=_names(raw_list.get("filters")),
        search=_names(raw_list.get("search")),
        sort=_names(raw_list.get("sort")) or ("-created_at",),
        page_size=raw_list.get("page_size", 50),
    )
    form = tuple(
        Section(
            Label.parse(s.get("section"), ""),
            tuple(tuple(_names(r)) for r in s["rows"]),
            visible_if=s.get("visible_if"),
            required_if=s.get("required_if"),
            readonly_if=s.get("readonly_if"),
        )
        for s in raw.get("form", ())
    )
    workflow = parse_workflow(raw["workflow"]) if raw.get("workflow") else None
    if workflow is not None and workflow.field not in fields:
        fields = {**fields, workflow.field: workflow.status_field()}
    return Entity(
        app=app,
        name=name,
        label=Label.parse(raw.get("label"), name),
        fields=frozen_map(fields),
        naming=naming,
        title=raw.get("title"),
        list=list_spec,
        form=form,
        permissions=parse_permissions(raw.get("permissions")),
        indexes=tuple(tuple(_names(i)) for i in raw.get("indexes", ())),
        unique=tuple(tuple(_names(u)) for u in raw.get("unique", ())),
        workflow=workflow,
        rules=parse_rules(raw.get("rules")),
        balances=parse_balances(app, name, raw.get("balances")),
        deletable=_deletable(raw.get("deletable", True)),
        prints=parse_prints(raw.get("prints")),
    )


def _deletable(raw: bool | list[str]) -> bool | tuple[str, ...]:
    return raw if isinstance(raw, bool) else tuple(raw)


def parse_app(raw: Mapping[str, Any], file: str, source: str, lines: Mapping[tuple, int]) -> App:
    name = raw["app"]
    entities = {
        ename: parse_entity(name, ename, eraw)
        for ename, eraw in (raw.get("entities") or {}).items()
    }
    children = {f.of: e.qualified for e in entities.values() for f in e.table_fields()}
    entities = {ename: _with_parent(e, children.get(e.qualified)) for ename, e in entities.items()}
    return App(
        name=name,
        label=Label.parse(raw.get("label"), name),
        file=file,
        source=source,
        requires=tuple(raw.get("requires", ())),
        roles=tuple(raw.get("roles", ())),
        permissions=parse_permissions(raw.get("permissions")),
        entities=frozen_map(entities),
        lines=frozen_map(lines),
        reports=parse_reports(name, raw.get("reports")),
        dashboard=parse_dashboard(raw.get("dashboard")),
        channels=parse_channels(raw.get("channels")),
    )


def _with_parent(entity: Entity, parent: str | None) -> Entity:
    return entity if parent is None else replace(entity, parent=parent)
