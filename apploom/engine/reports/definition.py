"""Reports as defined: what to count and sum, grouped how, over which records; and
dashboards of them. This module parses and checks definitions; reporting.py runs them.

    reports:
      sales_by_month:
        label: {en: Sales by month, zh: 月度销售}
        entity: order                      # or balance: stock (an aggregate table)
        where: {status: {not_in: [draft, cancelled]}}
        filters: [order_date, channel]     # the viewer sets these
        rows: [order_date.month]           # a field, ref.field, parent.field, date.bucket
        columns: [channel]                 # a pivot: one column per value
        measures:
          revenue: {sum: total, label: {en: Revenue, zh: 销售额}}
          orders:  {count: "*"}
          average: {ratio: [revenue, orders], format: money}
          older:   {sum: total, where: {order_date: {older_than_days: 30}}}   # days before today
        having: "orders > 10"
        sort: [order_date.month]           # group paths or measures, "-" descending
        limit: 12
        chart: line                        # table, bar, stacked_bar, line, pie, number
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from sqlalchemy import literal

from apploom.engine.definitions.model import Field, Label
from apploom.engine.errors import BadQuery
from apploom.engine.messages import message_of, msg, prefixed
from apploom.engine.query.expressions import ARITHMETIC, COMPARISONS, LOGIC, Term, compile_sql
from apploom.engine.query.filters import SYSTEM_FIELDS, condition_problem, parse_where

BUCKETS = ("day", "week", "month", "quarter", "year")
KINDS = ("count", "count_distinct", "sum", "avg", "min", "max", "ratio")
CHARTS = ("table", "bar", "stacked_bar", "line", "pie", "number")
FORMATS = ("number", "money", "percent")


@dataclass(frozen=True)
class Measure:
    name: str
    label: Label
    kind: str
    source: str | None = None  # an expression over paths; None: rows
    of: tuple[str, ...] = ()  # ratio: (numerator, denominator)
    where: Mapping[str, Any] = field(default_factory=dict)  # only these rows count
    format: str | None = None


@dataclass(frozen=True)
class Report:
    app: str
    name: str
    label: Label
    entity: str | None  # "app.entity", or None for a balance
    balance: str | None = None
    where: Mapping[str, Any] = field(default_factory=dict)
    filters: tuple[str, ...] = ()
    rows: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    measures: tuple[Measure, ...] = ()
    having: str | None = None
    sort: tuple[str, ...] = ()
    limit: int | None = None
    chart: str = "table"

    @property
    def qualified(self) -> str:
        return f"{self.app}.{self.name}"

    def measure(self, name: str) -> Measure:
        return next(m for m in self.measures if m.name == name)


@dataclass(frozen=True)
class Tile:
    report: str
    width: int = 1


@dataclass(frozen=True)
class Dashboard:
    tiles: tuple[Tile, ...] = ()
    date_range: str = "last_12_months"  # the shared date filter's default


def parse_reports(app: str, raw: Mapping | None) -> tuple[Report, ...]:
    reports = []
    for name, spec in (raw or {}).items():
        entity = spec.get("entity")
        if entity and "." not in entity:
            entity = f"{app}.{entity}"
        reports.append(
            Report(
                app=app,
                name=name,
                label=Label.parse(spec.get("label"), name),
                entity=entity,
                balance=spec.get("balance"),
                where=dict(spec.get("where") or {}),
                filters=tuple(spec.get("filters") or ()),
                rows=tuple(spec.get("rows") or ()),
                columns=tuple(spec.get("columns") or ()),
                measures=tuple(_measure(n, m) for n, m in spec["measures"].items()),
                having=spec.get("having"),
                sort=tuple(spec.get("sort") or ()),
                limit=spec.get("limit"),
                chart=spec.get("chart", "table"),
            )
        )
    return tuple(reports)


def parse_dashboard(raw: Mapping | None) -> Dashboard:
    raw = raw or {}
    return Dashboard(
        tiles=tuple(Tile(t["report"], t.get("width", 1)) for t in raw.get("tiles") or ()),
        date_range=raw.get("date_range", "last_12_months"),
    )


def _measure(name: str, spec: Mapping) -> Measure:
    kind = next(k for k in KINDS if k in spec)
    value = spec[kind]
    return Measure(
        name=name,
        label=Label.parse(spec.get("label"), name),
        kind=kind,
        source=None if kind == "ratio" or value == "*" else str(value),
        of=tuple(value) if kind == "ratio" else (),
        where=dict(spec.get("where") or {}),
        format=spec.get("format"),
    )


MEASURE_OPERATORS = ARITHMETIC
MEASURE_REFUSAL = msg(
    "may only add, subtract, multiply and divide fields and numbers, like 'qty * price'"
)
HAVING_OPERATORS = COMPARISONS | LOGIC
HAVING_REFUSAL = msg("may only compare measures and numbers, like 'orders > 10'")


def expression_paths(source: str) -> list[str]:
    """The paths a measure's expression reads (``qty * item.cost`` reads qty and
    item.cost), found by compiling it as the report will; BadQuery if it does more than
    + - * / over paths and numbers."""
    found: list[str] = []
    compile_sql(source, _recorder(found), allowed=MEASURE_OPERATORS, refusal=MEASURE_REFUSAL)
    return found


def _recorder(found: list[str]) -> Callable[[str], Term]:
    """A resolver that notes each name and stands in a number for it."""

    def note(name: str) -> Term:
        found.append(name)
        return Term(literal(0))

    return note


def report_problems(report: Report, app, apps, types) -> list[tuple[tuple, str]]:
    """What is wrong with a report's definition, each at its path within the report."""
    try:
        base = _base_fields(report, app, apps)
    except ValueError as exc:
        return [(("entity" if report.entity else "balance",), message_of(exc))]
    problems: list[tuple[tuple, str]] = []

    def check(path_in: tuple, path: str, buckets: bool = True) -> Field | None:
        try:
            return _field_at(base, report, path, apps, types, buckets)
        except ValueError as exc:
            problems.append((path_in, message_of(exc)))
            return None

    def check_where(path_in: tuple, where: Mapping[str, Any]) -> None:
        for path, spec in where.items():
            fld = check(path_in, path, buckets=False)
            if fld is None:
                continue
            for condition in parse_where({path: spec}):
                problem = condition_problem(fld, types[fld.type], condition)
                if problem:
                    problems.append((path_in, prefixed(f"'{path}'", problem)))

    check_where(("where",), report.where)
    for key in ("filters", "rows", "columns"):
        for path in getattr(report, key):
            check((key,), path, buckets=key != "filters")
    names = {m.name for m in report.measures}
    for m in report.measures:
        at = ("measures", m.name)
        check_where(at + ("where",), m.where)
        if m.kind == "ratio":
            for other in m.of:
                if other not in names or other == m.name:
                    problems.append(
                        (at + ("ratio",), msg("'{measure}' is not another measure", measure=other))
                    )
            continue
        if m.source is None:
            if m.kind != "count":
                problems.append((at, msg("'*' counts rows; {kind} needs a field", kind=m.kind)))
            continue
        try:
            used = expression_paths(m.source)
        except BadQuery as exc:
            problems.append(
                (at + (m.kind,), msg("the expression {problem}", problem=message_of(exc)))
            )
            continue
        for path in used:
            check(at + (m.kind,), path, buckets=False)
    groups = {*report.rows, *report.columns}
    for key in report.sort:
        if key.lstrip("-") not in groups | names:
            problems.append(
                (("sort",), msg("'{key}' is not a group or a measure", key=key.lstrip("-")))
            )
    if report.having:
        named: list[str] = []
        try:
            compile_sql(
                report.having, _recorder(named), allowed=HAVING_OPERATORS, refusal=HAVING_REFUSAL
            )
        except BadQuery as exc:
            problems.append((("having",), message_of(exc)))
        problems += [
            (("having",), msg("'{measure}' is not a measure", measure=n))
            for n in sorted(set(named) - names)
        ]
    if report.chart not in CHARTS:
        problems.append(
            (
                ("chart",),
                msg(
                    "'{chart}' is not a chart: {charts}",
                    chart=report.chart,
                    charts=", ".join(CHARTS),
                ),
            )
        )
    return problems


def _base_fields(report: Report, app, apps) -> tuple[Any, dict]:
    """(the entity, or None for a balance; the fields a path starts from)."""
    from apploom.engine.query.filters import (
        SYSTEM_FIELDS,  # query needs the model, not the other way round
    )

    if report.entity:
        app_name, _, name = report.entity.partition(".")
        if app_name not in apps.apps or name not in apps.apps[app_name].entities:
            raise ValueError(msg("'{entity}' is not an entity", entity=report.entity))
        entity = apps.entity(report.entity)
        return entity, {**SYSTEM_FIELDS, **entity.fields}
    for entity in app.entities.values():
        for balance in entity.balances:
            if balance.name == report.balance:
                return None, {
                    **{k: entity.fields[k] for k in balance.by},
                    **{c: Field(c, "integer", Label(c, c)) for c in (*balance.sums, *balance.show)},
                }
    raise ValueError(
        msg("'{balance}' is not a balance of {app}", balance=report.balance, app=app.name)
    )


def _field_at(base: tuple, report: Report, path: str, apps, types, buckets: bool):
    entity, fields = base
    parts = path.split(".")
    if buckets and len(parts) > 1 and parts[-1] in BUCKETS:
        parts.pop()
        bucketed = True
    else:
        bucketed = False
    for part in parts[:-1]:
        if part == "parent" and entity is not None and entity.is_child:
            entity = apps.entity(entity.parent)
        elif part in fields and types[fields[part].type].is_reference:
            entity = apps.entity(fields[part].to)
        else:
            raise ValueError(prefixed(f"'{path}'", msg("'{part}' is not a ref", part=part)))
        fields = {**SYSTEM_FIELDS, **entity.fields}
    fld = fields.get(parts[-1])
    if fld is None or fld.holds_rows:
        raise ValueError(msg("'{path}' is not a field", path=path))
    if bucketed and not types[fld.type].dated:
        raise ValueError(
            prefixed(
                f"'{path}'", msg("only dates and times group by day, week, month, quarter or year")
            )
        )
    return fld
