"""The one query language: filters, search, sort and paging, compiled to
SQLAlchemy expressions with every name checked against the definition.

API parameters (``status__in=a,b``), definition filters (``{status: [a, b]}``)
and, later, report and rule filters all become :class:`Condition` objects here.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

from sqlalchemy import ColumnElement, String, cast, or_, select
from sqlalchemy.sql.expression import Select

from .errors import BadQuery
from .fieldtypes import FieldTypes, Invalid
from .model import AppSet, Entity, Field, Label

OPS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "contains", "startswith",
       "between", "is_null")
RESERVED_PARAMS = ("sort", "limit", "offset", "fields", "q")
MAX_LIMIT = 500

# System columns queried like fields.
SYSTEM_FIELDS = {
    "id": Field("id", "integer", Label("Id", "编号")),
    "version": Field("version", "integer", Label("Version", "版本")),
    "created_at": Field("created_at", "datetime", Label("Created", "创建时间")),
    "updated_at": Field("updated_at", "datetime", Label("Updated", "更新时间")),
    "created_by": Field("created_by", "user", Label("Created by", "创建人")),
    "updated_by": Field("updated_by", "user", Label("Updated by", "更新人")),
}
AUDIT_FIELDS = ("created_at", "created_by", "updated_at", "updated_by")


@dataclass(frozen=True)
class Condition:
    path: str        # "status" or "customer.city"
    op: str
    value: Any


@dataclass(frozen=True)
class Query:
    conditions: tuple[Condition, ...] = ()
    search: str | None = None
    sort: tuple[str, ...] = ()
    limit: int | None = None
    offset: int = 0
    fields: tuple[str, ...] | None = None


def parse_params(params: Mapping[str, str]) -> Query:
    """``field=value``, ``field__op=value``, sort, limit, offset, fields and q from a URL."""
    conditions = []
    for key, value in params.items():
        if key in RESERVED_PARAMS:
            continue
        path, _, op = key.rpartition("__")
        if not path or op not in OPS:
            path, op = key, "eq"
        conditions.append(Condition(path, op, value))
    return Query(
        conditions=tuple(conditions),
        search=params.get("q") or None,
        sort=_split(params.get("sort")),
        limit=_int_param(params, "limit"),
        offset=_int_param(params, "offset") or 0,
        fields=_split(params.get("fields")) or None,
    )


def parse_where(where: Mapping[str, Any]) -> tuple[Condition, ...]:
    """Definition filters: ``{field: value}``, ``{field: [a, b]}``, ``{field: {gte: 5}}``."""
    conditions = []
    for path, spec in where.items():
        if isinstance(spec, Mapping):
            conditions += [Condition(path, op, value) for op, value in spec.items()]
        elif isinstance(spec, list):
            conditions.append(Condition(path, "in", spec))
        else:
            conditions.append(Condition(path, "eq", spec))
    return tuple(conditions)


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def _int_param(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    if not str(raw).isdigit():
        raise BadQuery(f"'{name}' must be a whole number", {name: "must be a whole number"})
    return int(raw)


class QueryCompiler:
    """Compiles queries for the entities of one AppSet against their tables."""

    def __init__(self, apps: AppSet, types: FieldTypes, tables: Mapping):
        self.apps = apps
        self.types = types
        self.tables = tables

    def field(self, entity: Entity, name: str) -> Field:
        found = entity.fields.get(name) or (None if entity.is_child else SYSTEM_FIELDS.get(name))
        if found is None or not self.types[found.type].has_column:
            known = [n for n, f in entity.fields.items() if self.types[f.type].has_column]
            raise BadQuery(f"'{name}' is not a field of {entity.name}",
                           {name: "unknown field; known fields: " + ", ".join(known)})
        return found

    def condition(self, entity: Entity, cond: Condition) -> ColumnElement:
        table = self.tables[entity.table]
        head, _, rest = cond.path.partition(".")
        fld = self.field(entity, head)
        if rest:
            if fld.type != "ref" or "." in rest:
                raise BadQuery(f"'{cond.path}': only a ref's own fields can follow a dot",
                               {cond.path: "follow a ref one level, like customer.city"})
            target = self.apps.entity(fld.to)
            inner = self.condition(target, Condition(rest, cond.op, cond.value))
            return table.c[head].in_(select(self.tables[target.table].c.id).where(inner))
        return self._compare(table.c[head], fld, cond)

    def _compare(self, column, fld: Field, cond: Condition) -> ColumnElement:
        ftype = self.types[fld.type]
        if cond.op not in ftype.ops:
            raise BadQuery(f"'{cond.op}' does not work on {fld.name}",
                           {cond.path: f"{fld.type} fields support: {', '.join(ftype.ops)}"})
        op, raw = cond.op, cond.value
        if op == "is_null":
            wanted = _truth(raw, cond.path)
            return column.is_(None) if wanted else column.is_not(None)
        if op in ("in", "not_in", "between"):
            items = raw if isinstance(raw, (list, tuple)) else _split(str(raw))
            values = [self._value(fld, item, cond.path) for item in items]
            if op == "between":
                if len(values) != 2:
                    raise BadQuery(f"'{cond.path}': between takes two values",
                                   {cond.path: "between takes two values: low,high"})
                return column.between(values[0], values[1])
            return column.in_(values) if op == "in" else column.not_in(values)
        if op == "contains" and fld.type == "multiselect":
            option = self._value(fld, raw, cond.path)[0]
            return cast(column, String).contains(json.dumps(option), autoescape=True)
        if op == "contains":
            return column.icontains(str(raw), autoescape=True)
        if op == "startswith":
            return column.istartswith(str(raw), autoescape=True)
        value = self._value(fld, raw, cond.path)
        return {"eq": column.__eq__, "ne": column.__ne__, "lt": column.__lt__,
                "lte": column.__le__, "gt": column.__gt__, "gte": column.__ge__}[op](value)

    def _value(self, fld: Field, raw: Any, path: str) -> Any:
        ftype = self.types[fld.type]
        try:
            value = ftype.coerce(fld, raw)
            if fld.type in ("select", "multiselect"):
                ftype.check(fld, value)
        except Invalid as exc:
            raise BadQuery(f"'{path}' {exc}", {path: str(exc)}) from None
        return value

    def search(self, entity: Entity, text: str) -> ColumnElement | None:
        table = self.tables[entity.table]
        clauses = []
        for name in entity.list.search:
            fld = entity.fields[name]
            if fld.type == "ref":
                target = self.apps.entity(fld.to)
                inner = self.search(target, text)
                if inner is not None:
                    clauses.append(table.c[name].in_(
                        select(self.tables[target.table].c.id).where(inner)))
            else:
                clauses.append(table.c[name].icontains(text, autoescape=True))
        return or_(*clauses) if clauses else None

    def order_by(self, entity: Entity, sort: tuple[str, ...]) -> list:
        table = self.tables[entity.table]
        order = []
        sort = sort or entity.list.sort
        for item in sort:
            descending = item.startswith("-")
            name = item.lstrip("-")
            head, _, rest = name.partition(".")
            fld = self.field(entity, head)
            if rest:
                if fld.type != "ref":
                    raise BadQuery(f"cannot sort by '{name}'", {"sort": f"'{head}' is not a ref"})
                target = self.apps.entity(fld.to)
                self.field(target, rest)
                inner = self.tables[target.table]
                column = (select(inner.c[rest]).where(inner.c.id == table.c[head])
                          .scalar_subquery())
            else:
                column = table.c[name]
            order.append(column.desc() if descending else column.asc())
        order.append(table.c.id.desc() if sort[0].startswith("-") else table.c.id)
        return order

    def apply(self, entity: Entity, query: Query, base: Select,
              row_filter: ColumnElement | None = None) -> tuple[Select, Select]:
        """(page query, count query) for ``query`` on top of ``base``."""
        where = [self.condition(entity, c) for c in query.conditions]
        if query.search:
            found = self.search(entity, query.search)
            if found is not None:
                where.append(found)
        if row_filter is not None:
            where.append(row_filter)
        filtered = base.where(*where)
        limit = min(query.limit or entity.list.page_size, MAX_LIMIT)
        page = filtered.order_by(*self.order_by(entity, query.sort)).limit(limit) \
            .offset(query.offset)
        return page, filtered


def _truth(raw: Any, path: str) -> bool:
    if isinstance(raw, bool):
        return raw
    word = str(raw).strip().lower()
    if word in ("true", "1", "yes"):
        return True
    if word in ("false", "0", "no"):
        return False
    raise BadQuery(f"'{path}': is_null takes true or false", {path: "use true or false"})
