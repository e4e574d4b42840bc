"""Running a report: one GROUP BY query (and one for the totals), never rows loaded into
Python, with the same answers on SQLite and PostgreSQL.

Paths join what they name (``customer.city`` joins the customer, ``parent.order_date``
an order line's order); time buckets are computed by each database in the same text
form (2026-11, 2026-Q4, 2026-11-23 for the Monday of a week). Money on SQLite is a
scaled integer, so each expression carries its scale and values are divided back
exactly. The viewer needs read access to every entity a report reads through.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Mapping

from sqlalchemy import (
    BigInteger,
    Float,
    Integer,
    Numeric,
    and_,
    case,
    cast,
    func,
    null,
    select,
    type_coerce,
)
from sqlalchemy.sql import ColumnElement, FromClause, Select

from apploom.engine import clock
from apploom.engine.access import permissions
from apploom.engine.access.permissions import User
from apploom.engine.definitions.model import Entity, Field, Label
from apploom.engine.errors import BadQuery, Forbidden
from apploom.engine.fields.base import FieldType
from apploom.engine.messages import msg
from apploom.engine.query.expressions import Term, compile_sql
from apploom.engine.query.filters import SYSTEM_FIELDS, Condition, parse_where
from apploom.engine.records.service import RecordService
from apploom.engine.reports.definition import (
    BUCKETS,
    HAVING_OPERATORS,
    HAVING_REFUSAL,
    MEASURE_OPERATORS,
    MEASURE_REFUSAL,
    Measure,
    Report,
)
from apploom.engine.storage.column_types import ExactDecimal

RANGES = ("last_30_days", "last_12_months", "this_year", "all")


@dataclass
class Group:
    path: str
    label: Label
    field: Field
    bucket: str | None
    sql: ColumnElement
    timed: bool = False  # a moment: its bucket's span ends before the next day


@dataclass
class Result:
    report: Report
    groups: list[Group]  # rows first, then pivot columns
    rows: list[dict]  # {"keys": [...], "labels": [...], "values": {}}
    totals: dict[str, Any]
    columns: list[tuple] = field(default_factory=list)  # pivot keys, in order
    column_parts: list[tuple[str, ...]] = field(default_factory=list)  # each group's label

    @property
    def column_labels(self) -> list[str]:
        return [" · ".join(parts) for parts in self.column_parts]

    date_filter: str | None = None  # the filter ``from``/``to`` set
    timed_filter: bool = False  # that filter holds times, not dates
    drillable: bool = False  # a list can show the records behind a cell

    def as_dict(self) -> dict:
        """The answer as the API sends it."""
        report, split = self.report, len(self.report.rows)
        labels, rows = self.column_labels, []
        for row in self.rows:
            found = {"keys": row["keys"], "labels": row["labels"]}
            if self.columns:
                found["columns"] = {labels[i]: values for i, values in sorted(row["cells"].items())}
            else:
                found["values"] = row["values"]
            rows.append(found)
        return {
            "report": report.qualified,
            "label": _label(report.label),
            "rows_by": [{"path": g.path, "label": _label(g.label)} for g in self.groups[:split]],
            "columns_by": [{"path": g.path, "label": _label(g.label)} for g in self.groups[split:]],
            "measures": [
                {"name": m.name, "label": _label(m.label), "format": m.format}
                for m in report.measures
            ],
            "columns": labels,
            "rows": rows,
            "totals": self.totals,
        }


class ReportRunner:
    def __init__(self, records: RecordService, balances):
        self.records = records
        self.balances = balances

    def find(self, app: str, name: str) -> Report:
        found = self.records.apps.apps.get(app)
        report = next((r for r in found.reports if r.name == name), None) if found else None
        if report is None:
            raise BadQuery(
                msg("There is no report '{app}.{name}'", app=app, name=name),
                {"report": msg("unknown")},
            )
        return report

    def run(
        self,
        user: User,
        report: Report,
        params: Mapping[str, str] | None = None,
        lang: str = "en",
    ) -> Result:
        """The report as ``user`` may see it, with the viewer's filters ``params``; its
        groups' options and records named in ``lang``.

        One query: the groups' measures, and the totals over every group as window
        aggregates of them (``sum(sum(total)) OVER ()``), computed before any LIMIT, so
        a top-10 table still shows the grand total. Only a distinct count, whose total
        cannot be summed from groups, takes a second query."""
        query = _Query(self, user, report)
        where = query.conditions(parse_where(report.where)) + query.viewer_filters(params or {})
        groups = [query.group(p) for p in (*report.rows, *report.columns)]
        measures = {m.name: query.measure(m) for m in report.measures}
        parts = {m.name: query.total_parts(m) for m in report.measures} if groups else {}
        windows = [p for found in parts.values() for p in found or ()]
        summed = groups and all(found is not None for found in parts.values())
        statement = select(
            *(g.sql.label(f"g{i}") for i, g in enumerate(groups)),
            *(m[0].label(f"m_{n}") for n, m in measures.items()),
            *(windows if summed else ()),
        )
        statement = query.from_(statement).where(*where)
        if groups:
            statement = statement.group_by(*(g.sql for g in groups))
        if report.having:
            statement = statement.having(query.having(report.having, measures))
        statement = statement.order_by(*query.order(report, groups, measures))
        if report.limit and not report.columns:
            statement = statement.limit(report.limit)
        with self.records.db.read() as conn:
            found = conn.execute(statement).all()
            if groups and not summed:
                total_raw = list(
                    conn.execute(
                        query.from_(select(*(m[0] for m in measures.values()))).where(*where)
                    ).one()
                )
        width = len(groups) + len(measures)
        if not groups:
            total_raw = list(found[0][:width]) if found else [None] * len(measures)
        elif summed:
            total_raw = _totals(report, parts, found[0][width:] if found else None)
        values = [
            (
                tuple(r[: len(groups)]),
                {
                    n: _value(r[len(groups) + i], measures[n], report.measure(n))
                    for i, n in enumerate(measures)
                },
            )
            for r in found
        ]
        result = Result(
            report,
            groups,
            [],
            {
                n: _value(total_raw[i], measures[n], report.measure(n))
                for i, n in enumerate(measures)
            },
            date_filter=query.date_filter,
            timed_filter=query.date_filter is not None
            and query.type_of(query.resolve(query.date_filter)[1]).timed,
            drillable=query.entity is not None and not query.entity.is_child,
        )
        _shape(self, user, result, values, lang)
        return result


def time_bucket(dialect: str, column, bucket: str, timed: bool) -> ColumnElement:
    """A date or time as its bucket's text, alike on both databases: 2026-11-27, the
    Monday of its week, 2026-11, 2026-Q4, 2026. A time falls in the bucket of its day on
    the business's clock, daylight saving included: PostgreSQL converts with its zone
    database, SQLite with Python's (the connection's ``local_time`` function)."""
    if dialect == "sqlite":
        column = func.local_time(column) if timed else column
        formats = {"day": "%Y-%m-%d", "week": "%Y-%m-%d", "month": "%Y-%m", "year": "%Y"}
        if bucket == "week":
            return func.strftime("%Y-%m-%d", column, "weekday 0", "-6 days")
        if bucket == "quarter":
            return func.printf(
                "%s-Q%d",
                func.strftime("%Y", column),
                (cast(func.strftime("%m", column), Integer) + 2) // 3,
            )
        return func.strftime(formats[bucket], column)
    moment = func.timezone(clock.zone().key, column) if timed else column
    if bucket == "week":
        moment = func.date_trunc("week", moment)
    patterns = {
        "day": "YYYY-MM-DD",
        "week": "YYYY-MM-DD",
        "month": "YYYY-MM",
        "quarter": 'YYYY-"Q"Q',
        "year": "YYYY",
    }
    return func.to_char(moment, patterns[bucket])


def _totals(report: Report, parts: dict, window_row) -> list:
    """Each measure's total, raw, from the window aggregates of its parts."""
    raw: dict[str, Any] = {}
    position = 0
    for m in report.measures:
        count = len(parts[m.name])
        values: list[Any] = (
            list(window_row[position : position + count]) if window_row else [None] * count
        )
        position += count
        if m.kind == "avg":
            raw[m.name] = None if not values[1] else float(values[0]) / float(values[1])
        elif m.kind != "ratio":
            raw[m.name] = values[0]
    for m in report.measures:
        if m.kind == "ratio":
            top, bottom = raw.get(m.of[0]), raw.get(m.of[1])
            raw[m.name] = None if top is None or not bottom else float(top) / float(bottom)
    return [raw[m.name] for m in report.measures]


class _Query:
    """One report's SQL: the base table, its joins, and paths turned into columns."""

    def __init__(self, runner: ReportRunner, user: User, report: Report):
        self.runner, self.user, self.report = runner, user, report
        records = runner.records
        self.dialect = records.db.dialect
        if report.entity:
            self.entity: Entity | None = records.apps.entity(report.entity)
            self._require(self.entity)
            self.base = records.tables[self.entity.table]
            self.fields: dict[str, Field] = {**SYSTEM_FIELDS, **self.entity.fields}
            self.shown: dict[str, str] = {}
        else:
            balance = runner.balances.get(report.balance, report.app)
            ledger = records.apps.entity(balance.ledger)
            if permissions.require(records.apps, user, ledger, "read") != "all":
                raise Forbidden(
                    msg(
                        "The {report} report sums every {entity} record; "
                        "you may read only your own",
                        report=report.label,
                        entity=ledger.label,
                    )
                )
            self.entity = None
            self.base = runner.balances.tables[balance.table_name()]
            self.fields = {
                **{k: ledger.fields[k] for k in balance.by},
                **{
                    c: Field(c, "integer", balance.label_of(c))
                    for c in (*balance.sums, *balance.show)
                },
            }
            self.shown = dict(balance.show)  # figures computed from the sums
        self.joins: dict[str, tuple[Any, Entity, ColumnElement]] = {}
        self.date_filter = next(
            (p for p in report.filters if self.type_of(self.resolve(p)[1]).dated), None
        )
        self.filters: list[ColumnElement] = []
        if self.entity is not None:
            self.filters += self._visible_rows(self.entity)

    def _visible_rows(self, entity: Entity) -> list[ColumnElement]:
        """The rows the user may read: their own, where that is their right (a child row
        is theirs if its record is)."""
        records = self.runner.records
        holder = records.apps.entity(entity.parent) if entity.parent else entity
        visible = records.compiler.visible(self.user, holder)
        if visible is None:
            return []
        if not entity.is_child:
            return [visible]
        parents = records.tables[holder.table]
        return [self.base.c.parent_id.in_(select(parents.c.id).where(visible))]

    def type_of(self, fld: Field) -> FieldType:
        return self.runner.records.types[fld.type]

    def _require(self, entity: Entity) -> None:
        permissions.require(self.runner.records.apps, self.user, entity, "read")

    # ---- paths ------------------------------------------------------------------------
    def resolve(self, path: str) -> tuple[ColumnElement, Field, int, str | None]:
        """(column, its field, its scale factor on this database, bucket) for a path."""
        parts = path.split(".")
        bucket = parts.pop() if len(parts) > 1 and parts[-1] in BUCKETS else None
        table, fields, entity, prefix = self.base, self.fields, self.entity, ""
        for part in parts[:-1]:
            prefix = f"{prefix}.{part}" if prefix else part
            if part == "parent" and entity is not None and entity.parent is not None:
                target = self.runner.records.apps.entity(entity.parent)
                link = "parent_id"
            elif part in fields and self.type_of(fields[part]).is_reference:
                target = self.runner.records.apps.entity(fields[part].target)
                link = part
            else:
                raise BadQuery(
                    msg("'{path}': '{part}' is not a ref", path=path, part=part), {"path": path}
                )
            if prefix not in self.joins:
                self._require(target)
                alias = self.runner.records.tables[target.table].alias(
                    "j_" + prefix.replace(".", "_")
                )
                condition = table.c[link] == alias.c.id
                visible = self.runner.records.compiler.visible(self.user, target)
                if visible is not None:
                    condition = and_(condition, alias.c.created_by == self.user.id)
                self.joins[prefix] = (alias, target, condition)
            table, entity = self.joins[prefix][0], self.joins[prefix][1]
            fields = {**SYSTEM_FIELDS, **entity.fields}
        name = parts[-1]
        if entity is None and name in self.shown:
            return self.expression(self.shown[name])[0], self.fields[name], 1, None
        if name not in fields or name not in table.c:
            raise BadQuery(msg("'{path}' is not a field", path=path), {"path": path})
        column, fld = table.c[name], fields[name]
        factor = (
            10**column.type.scale
            if isinstance(column.type, ExactDecimal) and self.dialect == "sqlite"
            else 1
        )
        if bucket is not None:
            if not self.type_of(fld).dated:
                raise BadQuery(
                    msg("'{path}': only dates group by {bucket}", path=path, bucket=bucket),
                    {"path": path},
                )
            return (
                time_bucket(self.dialect, column, bucket, self.type_of(fld).timed),
                fld,
                1,
                bucket,
            )
        return column, fld, factor, None

    def from_(self, statement: Select) -> Select:
        base: FromClause = self.base
        for alias, _, condition in self.joins.values():
            base = base.outerjoin(alias, condition)
        return statement.select_from(base).where(*self.filters)

    # ---- expressions, conditions, measures --------------------------------------------
    def expression(self, source: str) -> tuple[ColumnElement, Any, int | None]:
        """SQL for ``qty * item.cost`` as raw numbers, with the factor they are scaled by
        on this database and the decimal places of the result (None after a division)."""

        def path(name: str) -> Term:
            column, fld, factor, _ = self.resolve(name)
            if isinstance(column.type, ExactDecimal):  # raw: scaled ints or NUMERIC
                column = type_coerce(column, BigInteger() if factor > 1 else Numeric())
            return Term(column, factor, self.type_of(fld).scale(fld))

        term = compile_sql(source, path, allowed=MEASURE_OPERATORS, refusal=MEASURE_REFUSAL)
        return term.sql, term.factor, term.places

    def conditions(self, conditions) -> list[ColumnElement]:
        return [self.condition(c.path, c.op, c.value) for c in conditions]

    def condition(self, path: str, op: str, value: Any) -> ColumnElement:
        column, fld, _, _ = self.resolve(path)
        return self.runner.records.compiler.compare(column, fld, Condition(path, op, value))

    def viewer_filters(self, params: Mapping[str, str]) -> list[ColumnElement]:
        """What the viewer chose: ``from``/``to`` (or ``field__gte``/``__lte``) for the
        first date filter, ``field=a,b`` for the others."""
        found = []
        for path in self.report.filters:
            fld = self.resolve(path)[1]
            shared = path == self.date_filter
            if self.type_of(fld).dated:
                for name in (f"{path}__gte", f"{path}__lte", *(("from", "to") if shared else ())):
                    _check_day(name, params.get(name))
            low = params.get(f"{path}__gte") or (params.get("from") if shared else None)
            high = params.get(f"{path}__lte") or (params.get("to") if shared else None)
            if self.type_of(fld).dated:
                if low:
                    found.append(self.condition(path, "gte", low))
                if high:
                    found.append(
                        self.condition(path, "lt", _day_after(high))
                        if self.type_of(fld).timed
                        else self.condition(path, "lte", high)
                    )
            elif params.get(path):
                found.append(self.condition(path, "in", params[path]))
        return found

    def group(self, path: str) -> Group:
        column, fld, _, bucket = self.resolve(path)
        return Group(path, _path_label(fld, bucket), fld, bucket, column, self.type_of(fld).timed)

    def measure(self, measure: Measure) -> tuple[ColumnElement, Any, int | None]:
        """(SQL, scale factor, decimal places) of a measure; places None: a quotient."""
        if measure.kind == "ratio":
            top, top_f, _ = self.measure(self.report.measure(measure.of[0]))
            bottom, bottom_f, _ = self.measure(self.report.measure(measure.of[1]))
            return cast(top, Float) / func.nullif(bottom, 0), top_f / bottom_f, None
        only = and_(*self.conditions(parse_where(measure.where))) if measure.where else None
        if measure.source is None:  # count of rows
            return (func.count() if only is None else func.sum(case((only, 1), else_=0)), 1, 0)
        sql, factor, places = self.expression(measure.source)
        if only is not None:
            sql = case((only, sql), else_=null())
        if measure.kind == "count":
            return func.count(sql), 1, 0
        if measure.kind == "count_distinct":
            return func.count(sql.distinct()), 1, 0
        if measure.kind == "avg":
            return func.avg(cast(sql, Float) if self.dialect == "sqlite" else sql), factor, None
        return getattr(func, measure.kind)(sql), factor, places

    def total_parts(self, measure: Measure) -> list[ColumnElement] | None:
        """Window aggregates over the groups that make up a measure's total (None where
        groups cannot be added up: a distinct count)."""
        if measure.kind == "ratio":
            return []
        if measure.kind == "count_distinct":
            return None
        grouped = self.measure(measure)[0]
        if measure.kind in ("min", "max"):
            return [getattr(func, measure.kind)(grouped).over()]
        if measure.kind != "avg":
            return [func.sum(grouped).over()]
        assert measure.source is not None  # an average is of something (definitions check)
        sql, _, _ = self.expression(measure.source)
        if measure.where:
            sql = case((and_(*self.conditions(parse_where(measure.where))), sql), else_=null())
        return [func.sum(func.sum(cast(sql, Float))).over(), func.sum(func.count(sql)).over()]

    def having(self, source: str, measures: dict) -> ColumnElement:
        def measure(name: str) -> Term:
            if name not in measures:
                raise BadQuery(
                    msg("having: '{name}' is not a measure", name=name), {"having": source}
                )
            return Term(*measures[name])

        return compile_sql(source, measure, allowed=HAVING_OPERATORS, refusal=HAVING_REFUSAL).sql

    def order(self, report: Report, groups: list[Group], measures: dict) -> list:
        found = []
        for key in report.sort:
            name = key.lstrip("-")
            target = (
                measures[name][0]
                if name in measures
                else next((g.sql for g in groups if g.path == name), None)
            )
            if target is None:
                raise BadQuery(
                    msg("sort: '{name}' is not a group or measure", name=name), {"sort": key}
                )
            found.append(target.desc() if key.startswith("-") else target.asc())
        return found + [g.sql for g in groups]


def _value(raw: Any, compiled: tuple, measure: Measure) -> Any:
    """A measure's value as the engine shows it: whole numbers as integers, decimals
    exactly at their places (scaled back on SQLite), quotients and averages to four
    places (two for money)."""
    _, factor, places = compiled
    if raw is None:
        return None
    value = Decimal(str(raw)) / Decimal(str(factor))
    if places is None:
        places = 2 if measure.format == "money" else 4
    elif places == 0:
        return int(value)
    return value.quantize(Decimal(1).scaleb(-places))


def _scaled(sql: ColumnElement, by: float) -> ColumnElement:
    """``sql`` times ``by``, exactly when ``by`` is whole (money's scale on SQLite)."""
    if by == 1:
        return sql
    return sql * (int(by) if float(by).is_integer() else by)


def _check_day(name: str, value: str | None) -> None:
    """Every date the viewer sent is checked, also one a more precise filter overrides."""
    if not value:
        return
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError
        date.fromisoformat(value)
    except ValueError:
        raise BadQuery(
            msg("'{name}' must be a day (YYYY-MM-DD), not '{value}'", name=name, value=value),
            {name: msg("must be a day (YYYY-MM-DD)")},
        ) from None


def _day_after(text: str) -> str:
    try:
        return (date.fromisoformat(text[:10]) + timedelta(days=1)).isoformat()
    except ValueError:
        raise BadQuery(
            msg("'{text}' is not a date (YYYY-MM-DD)", text=text), {"to": text}
        ) from None


def _path_label(fld: Field, bucket: str | None) -> Label:
    if bucket is None:
        return fld.label
    words = {
        "day": ("day", "日"),
        "week": ("week", "周"),
        "month": ("month", "月"),
        "quarter": ("quarter", "季度"),
        "year": ("year", "年"),
    }[bucket]
    return Label(f"{fld.label.en} ({words[0]})", f"{fld.label.zh}（{words[1]}）")


def _shape(runner: ReportRunner, user: User, result: Result, values: list, lang: str) -> None:
    """Rows with their groups' labels (refs by title, selects by label); a pivot's
    column groups become columns."""
    groups, records = result.groups, runner.records
    titles: dict[int, dict] = {}
    for i, g in enumerate(groups):
        if g.field is not None and records.types[g.field.type].is_reference and g.bucket is None:
            ids = {keys[i] for keys, _ in values if keys[i] is not None}
            titles[i] = records.titles(user, g.field.target, ids, lang)

    def label(i: int, raw: Any) -> str:
        g = groups[i]
        if raw is None:
            return "—"
        if i in titles:
            return titles[i].get(raw, f"#{raw}")
        if g.field is not None and g.field.options and g.bucket is None:
            options = {o.value: o.label.get(lang) for o in g.field.options}
            return options.get(raw, str(raw))
        return raw.isoformat() if hasattr(raw, "isoformat") else str(raw)

    split = len(result.report.rows)
    by_row: dict[tuple, dict] = {}
    for keys, measures in values:
        row_keys, column_keys = keys[:split], keys[split:]
        row = by_row.setdefault(
            row_keys,
            {
                "keys": list(row_keys),
                "labels": [label(i, k) for i, k in enumerate(row_keys)],
                "values": {},
                "cells": {},
            },
        )
        if column_keys:
            if column_keys not in result.columns:
                result.columns.append(column_keys)
                result.column_parts.append(
                    tuple(label(split + i, k) for i, k in enumerate(column_keys))
                )
            row["cells"][result.columns.index(column_keys)] = measures
        else:
            row["values"] = measures
    result.rows = list(by_row.values())
    if result.columns:  # pivot columns in the order of their values, empty ones last
        order = sorted(
            range(len(result.columns)),
            key=lambda i: [(k is None, str(k)) for k in result.columns[i]],
        )
        result.columns = [result.columns[i] for i in order]
        result.column_parts = [result.column_parts[i] for i in order]
        for row in result.rows:
            row["cells"] = {order.index(i): cells for i, cells in row["cells"].items()}
    if result.report.columns and result.report.limit:
        result.rows = result.rows[: result.report.limit]


def _label(text: Label) -> dict:
    return {"en": text.en, "zh": text.zh}


def date_range(preset: str, today: date) -> dict[str, str]:
    """A dashboard's shared dates as ``from``/``to`` parameters."""
    if preset == "last_30_days":
        return {"from": (today - timedelta(days=29)).isoformat(), "to": today.isoformat()}
    if preset == "last_12_months":
        start = date(today.year - 1, today.month, 1) if today.month < 12 else date(today.year, 1, 1)
        return {"from": start.isoformat(), "to": today.isoformat()}
    if preset == "this_year":
        return {"from": date(today.year, 1, 1).isoformat(), "to": today.isoformat()}
    return {}


def drill_params(result: Result, keys: list, params: Mapping[str, str]) -> dict | None:
    """The list of the records behind one cell (row keys, then column keys), as the
    list's URL parameters; None where a list cannot show them (a balance, or child
    rows)."""
    report = result.report
    if not result.drillable:
        return None
    found: dict[str, str] = {}
    for c in parse_where(report.where):
        value = ",".join(map(str, c.value)) if isinstance(c.value, list) else str(c.value)
        found[c.path + ("" if c.op == "eq" else f"__{c.op}")] = value
    for path in report.filters:
        if path == result.date_filter:
            low = params.get(f"{path}__gte") or params.get("from")
            high = params.get(f"{path}__lte") or params.get("to")
            if low:
                found[f"{path}__gte"] = low
            if high:  # a time on the last day is still within it
                found.update(
                    {f"{path}__lt": _day_after(high)}
                    if result.timed_filter
                    else {f"{path}__lte": high}
                )
        elif params.get(path):
            found[f"{path}__in"] = params[path]
    for group, key in zip(result.groups, keys, strict=True):
        name = group.path.rsplit(".", 1)[0] if group.bucket else group.path
        if key is None:
            found[f"{name}__is_null"] = "true"
        elif group.bucket:
            start, end = _bucket_span(group.bucket, str(key))
            found[f"{name}__gte"] = start
            found.update({f"{name}__lt": _day_after(end)} if group.timed else {f"{name}__lte": end})
        else:
            found[name] = key.isoformat() if hasattr(key, "isoformat") else str(key)
    return found


def _bucket_span(bucket: str, key: str) -> tuple[str, str]:
    """The first and last day of a bucket's text form."""
    if bucket == "year":
        return f"{key}-01-01", f"{key}-12-31"
    if bucket == "quarter":
        year, quarter = int(key[:4]), int(key[-1])
        start = date(year, 3 * quarter - 2, 1)
    elif bucket == "month":
        start = date(int(key[:4]), int(key[5:7]), 1)
    else:
        start = date.fromisoformat(key)
        return start.isoformat(), (start + timedelta(days=6 if bucket == "week" else 0)).isoformat()
    months = 3 if bucket == "quarter" else 1
    following = date(
        start.year + (start.month + months - 1) // 12, (start.month + months - 1) % 12 + 1, 1
    )
    return start.isoformat(), (following - timedelta(days=1)).isoformat()
