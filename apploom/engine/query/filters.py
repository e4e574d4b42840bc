"""The one query language: filters, search, sort and paging, compiled to
SQLAlchemy expressions with every name checked against the definition.

API parameters (``status__in=a,b``), definition filters (``{status: [a, b]}``)
and, later, report and rule filters all become :class:`Condition` objects here.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any, Mapping

from sqlalchemy import ColumnElement, String, Table, and_, cast, false, or_, select, union
from sqlalchemy.sql.expression import Select

from apploom.engine import clock
from apploom.engine.access import permissions
from apploom.engine.access.permissions import User
from apploom.engine.definitions.model import AppSet, Entity, Field, Label
from apploom.engine.errors import BadQuery
from apploom.engine.fields.base import AGE_OPS, FieldType, Invalid
from apploom.engine.fields.links import ME
from apploom.engine.fields.registry import FieldTypes
from apploom.engine.messages import message_of, msg

OPS = (
    "eq",
    "ne",
    "lt",
    "lte",
    "gt",
    "gte",
    "in",
    "not_in",
    "contains",
    "startswith",
    "between",
    "is_null",
    *AGE_OPS,
)
MAX_AGE_DAYS = 36_500  # a century: beyond it a date falls off the calendar
RESERVED_PARAMS = ("sort", "limit", "offset", "after", "fields", "q")
MAX_LIMIT = 500
MAX_OFFSET = 10_000_000
MAX_IN = 1000
FOLLOW_ONE_LEVEL = msg("follow a ref one level, like customer.city")
MAX_SEARCH = 200
MAX_CURSOR = 2000

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
    path: str  # "status" or "customer.city"
    op: str
    value: Any


@dataclass(frozen=True)
class Query:
    conditions: tuple[Condition, ...] = ()
    search: str | None = None
    sort: tuple[str, ...] = ()
    limit: int | None = None
    offset: int = 0
    after: str | None = None  # the cursor of the page before: where this page starts
    fields: tuple[str, ...] | None = None


@dataclass(frozen=True)
class SortKey:
    """One of the values rows are ordered by, and the field that reads it back from a
    cursor."""

    column: ColumnElement
    descending: bool
    field: Field
    nullable: bool = True  # False: no row holds NULL here, so a cursor need not ask

    def ordering(self) -> ColumnElement:
        return self.column.desc() if self.descending else self.column.asc()


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
        limit=_int_param(params, "limit", MAX_LIMIT),
        offset=_int_param(params, "offset", MAX_OFFSET) or 0,
        after=params.get("after") or None,
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


def _int_param(params: Mapping[str, str], name: str, most: int) -> int | None:
    """A whole number up to ``most``; more is refused, not quietly cut to it."""
    raw = params.get(name)
    if raw in (None, ""):
        return None
    if not re.fullmatch(r"[0-9]{1,8}", str(raw)) or int(raw) > most:
        raise BadQuery(
            msg("'{name}' must be a whole number up to {most}", name=name, most=most),
            {name: msg("must be a whole number up to {most}", most=most)},
        )
    return int(raw)


class QueryCompiler:
    """Compiles queries for the entities of one AppSet against their tables.

    A query runs for a user: it sees only the rows that user may read, and a filter,
    sort or search through a ref reaches only the target rows the user may read too.
    """

    SEARCH_TEXT = Field("text", "text", Label("Text", "文本"), length=MAX_SEARCH)

    def __init__(self, apps: AppSet, types: FieldTypes, tables: Mapping, dialect: str = "sqlite"):
        self.apps = apps
        self.types = types
        self.tables = tables
        self.nulls_sort_last = dialect == "postgresql"  # SQLite sorts them first
        # PostgreSQL answers each part of a search from its own (trigram) index when the
        # parts are a union of ids; SQLite scans, once for all parts when they are ORed
        self.search_by_union = dialect == "postgresql"

    def field(self, entity: Entity, name: str) -> Field:
        found = entity.fields.get(name) or (None if entity.is_child else SYSTEM_FIELDS.get(name))
        if found is None or not self.types[found.type].has_column:
            known = [n for n, f in entity.fields.items() if self.types[f.type].has_column]
            raise BadQuery(
                msg("'{name}' is not a field of {entity}", name=name, entity=entity.label),
                {name: msg("unknown field; known fields: {known}", known=", ".join(known))},
            )
        return found

    def visible(
        self, user: User, entity: Entity, table: Table | None = None
    ) -> ColumnElement | None:
        """The row filter for what ``user`` may read of ``entity`` (None: every row), on
        its table or on ``table``, an alias of it."""
        if permissions.require(self.apps, user, entity, "read") == "own":
            return (
                table if table is not None else self.tables[entity.table]
            ).c.created_by == user.id
        return None

    def _target_ids(self, user: User, fld: Field, where: ColumnElement) -> Select:
        """Ids of the ref target's rows matching ``where`` that ``user`` may read."""
        target = self.apps.entity(fld.target)
        query = select(self.tables[target.table].c.id).where(where)
        row_filter = self.visible(user, target)
        return query if row_filter is None else query.where(row_filter)

    def _ref(self, entity: Entity, head: str, path: str) -> tuple[Field, Entity]:
        fld = self.field(entity, head)
        if not self.types[fld.type].is_reference:
            raise BadQuery(
                msg("'{path}': only a ref's own fields can follow a dot", path=path),
                {path: FOLLOW_ONE_LEVEL},
            )
        return fld, self.apps.entity(fld.target)

    def condition(self, user: User, entity: Entity, cond: Condition) -> ColumnElement:
        table = self.tables[entity.table]
        head, _, rest = cond.path.partition(".")
        if not rest:
            fld = self.field(entity, head)
            return self.compare(table.c[head], fld, self._mine(user, fld, cond))
        fld, target = self._ref(entity, head, cond.path)
        if "." in rest:
            raise BadQuery(
                msg("'{path}': refs can be followed one level only", path=cond.path),
                {cond.path: FOLLOW_ONE_LEVEL},
            )
        target_field = self.field(target, rest)
        inner = self.compare(
            self.tables[target.table].c[rest],
            target_field,
            self._mine(user, target_field, Condition(rest, cond.op, cond.value)),
        )
        return table.c[head].in_(self._target_ids(user, fld, inner))

    def _mine(self, user: User, fld: Field, cond: Condition) -> Condition:
        """``me`` in a user field's filter is the user the query runs for: owner=me,
        owner__in=me,7."""
        listed = cond.op in ("in", "not_in")
        raw = cond.value
        items = list(raw) if isinstance(raw, (list, tuple)) else [raw]
        if listed and not isinstance(raw, (list, tuple)):
            items = list(_split(str(raw)))
        if not self.types[fld.type].is_user or ME not in items:
            return cond
        if user.id is None:
            raise BadQuery(
                msg(
                    "'{path}': '{me}' is the signed-in user, and there is none",
                    path=cond.path,
                    me=ME,
                ),
                {cond.path: msg("'{me}' needs a signed-in user", me=ME)},
            )
        mine = [user.id if item == ME else item for item in items]
        return replace(cond, value=mine if listed else mine[0])

    def compare(self, column: ColumnElement, fld: Field, cond: Condition) -> ColumnElement:
        """``cond`` on ``column``, which holds ``fld``'s values: the one place a filter
        becomes SQL, for lists, the API, rules, related panels and reports alike. A
        ``not_in`` keeps the rows without a value (SQL's NOT IN would drop them)."""
        ftype = self.types[fld.type]
        if cond.op not in ftype.ops:
            raise BadQuery(
                msg("'{op}' does not work on {field}", op=cond.op, field=fld.label),
                {
                    cond.path: msg(
                        "{type} fields support: {ops}", type=fld.type, ops=", ".join(ftype.ops)
                    )
                },
            )
        op, raw = cond.op, cond.value
        if op == "is_null":
            wanted = _truth(raw, cond.path)
            return column.is_(None) if wanted else column.is_not(None)
        if op in AGE_OPS:
            first = _first_day(ftype.timed, age_days(raw, cond.path))
            return column < first if op == "older_than_days" else column >= first
        if op in ("in", "not_in", "between"):
            items = raw if isinstance(raw, (list, tuple)) else _split(str(raw))
            if len(items) > MAX_IN:
                raise BadQuery(
                    msg("'{path}': at most {most} values", path=cond.path, most=MAX_IN),
                    {cond.path: msg("at most {most} values", most=MAX_IN)},
                )
            values = [self._value(fld, item, cond.path) for item in items]
            if op == "between":
                if len(values) != 2:
                    raise BadQuery(
                        msg("'{path}': between takes two values", path=cond.path),
                        {cond.path: msg("between takes two values: low,high")},
                    )
                return column.between(values[0], values[1])
            return (
                column.in_(values) if op == "in" else or_(column.is_(None), column.not_in(values))
            )
        if op in ("contains", "startswith") and not ftype.holds_list:
            text = self._value(self.SEARCH_TEXT, raw, cond.path)
            return (column.icontains if op == "contains" else column.istartswith)(
                text, autoescape=True
            )
        value = self._value(fld, raw, cond.path)
        if op == "contains" and ftype.holds_list:
            if len(value) != 1:
                raise BadQuery(
                    msg("'{path}': name one option", path=cond.path),
                    {cond.path: msg("contains takes one option")},
                )
            return cast(column, String).contains(json.dumps(value[0]), autoescape=True)
        return {
            "eq": column.__eq__,
            "ne": column.__ne__,
            "lt": column.__lt__,
            "lte": column.__le__,
            "gt": column.__gt__,
            "gte": column.__ge__,
        }[op](value)

    def _value(self, fld: Field, raw: Any, path: str) -> Any:
        ftype = self.types[fld.type]
        try:
            value = ftype.coerce(fld, raw)
            if ftype.has_options or fld is self.SEARCH_TEXT:
                ftype.check(fld, value)
        except Invalid as exc:
            said = message_of(exc)
            raise BadQuery(
                msg("'{path}' {problem}", path=path, problem=said), {path: said}
            ) from None
        return value

    def search(self, user: User, entity: Entity, text: str, follow_refs: bool = True):
        """Any of the entity's search fields contains ``text``; refs search their
        target's own (non-ref) search fields, one level deep, among rows the user may read."""
        text = self._value(self.SEARCH_TEXT, text, "q")
        table = self.tables[entity.table]
        clauses = []
        for name in entity.list.search:
            fld = entity.fields[name]
            if not self.types[fld.type].is_reference:
                clauses.append(table.c[name].icontains(text, autoescape=True))
                continue
            target = self.apps.entity(fld.target)
            if not follow_refs or permissions.scope(self.apps, user, target, "read") is None:
                continue
            inner = self.search(user, target, text, follow_refs=False)
            if inner is not None:
                clauses.append(table.c[name].in_(self._target_ids(user, fld, inner)))
        if not clauses:
            return None
        if self.search_by_union and len(clauses) > 1:
            return table.c.id.in_(union(*(select(table.c.id).where(c) for c in clauses)))
        return or_(*clauses)

    def sort_keys(
        self, user: User, entity: Entity, sort: tuple[str, ...], query: Select
    ) -> tuple[Select, list[SortKey]]:
        """The keys ``sort`` (else the list's own sort) orders rows by, the id last so that
        the order is total, and ``query`` joined to each ref whose field a key follows.
        A join, not a subquery per row: the database can then walk an index of the
        target's field instead of sorting every row."""
        table = self.tables[entity.table]
        keys = []
        sort = sort or entity.list.sort
        for n, item in enumerate(sort):
            descending = item.startswith("-")
            name = item.lstrip("-")
            head, _, rest = name.partition(".")
            if rest:
                fld, target = self._ref(entity, head, name)
                key_field = self.field(target, rest)
                joined = self.tables[target.table].alias(f"sort_{n}")
                on = joined.c.id == table.c[head]
                row_filter = self.visible(user, target, joined)
                query = query.outerjoin(joined, on if row_filter is None else and_(on, row_filter))
                column, nullable = joined.c[rest], True  # an unmatched row reads NULL
            else:
                key_field = self.field(entity, name)
                column = table.c[name]
                nullable = bool(column.nullable)
            if not self.types[key_field.type].sortable:
                raise BadQuery(
                    msg("cannot sort by '{name}'", name=name),
                    {"sort": msg("{type} fields cannot be sorted", type=key_field.type)},
                )
            keys.append(SortKey(column, descending, key_field, nullable))
        newest_first = bool(sort) and sort[0].startswith("-")
        keys.append(SortKey(table.c.id, newest_first, SYSTEM_FIELDS["id"], nullable=False))
        return query, keys

    def cursor(self, keys: list[SortKey], row: Mapping[str, Any]) -> str:
        """The cursor of the page after ``row``: its sort keys (read as ``key_0``…) as JSON
        in URL-safe base64."""
        values = [
            self.types[k.field.type].dump(k.field, row[f"key_{n}"]) for n, k in enumerate(keys)
        ]
        return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")

    def _after(self, keys: list[SortKey], cursor: str) -> ColumnElement:
        """Rows sorting after the row ``cursor`` names: the page after it, found by the
        index of the first key however deep (an offset counts every row before it)."""
        values = self._read_cursor(keys, cursor)
        later = []
        for n, key in enumerate(keys):
            ties = [_equal(k.column, v) for k, v in zip(keys[:n], values[:n], strict=True)]
            later.append(and_(*ties, self._beyond(key, values[n])))
        condition = or_(*later)
        first, value = keys[0], values[0]
        if value is not None and not (first.nullable and self._nulls_later(first)):
            # the same rows, bounded by the first key alone so that its index starts there
            bound = first.column <= value if first.descending else first.column >= value
            condition = and_(bound, condition)
        return condition

    def _nulls_later(self, key: SortKey) -> bool:
        return self.nulls_sort_last != key.descending

    def _beyond(self, key: SortKey, value: Any) -> ColumnElement:
        """Rows whose ``key`` comes strictly after ``value`` in the order."""
        nulls_later = self._nulls_later(key)
        if value is None:
            return false() if nulls_later else key.column.is_not(None)
        beyond = key.column < value if key.descending else key.column > value
        return or_(beyond, key.column.is_(None)) if nulls_later and key.nullable else beyond

    def _read_cursor(self, keys: list[SortKey], cursor: str) -> list[Any]:
        refusal = BadQuery(
            msg("'after' is not the cursor of a page of this list in this order"),
            {"after": msg("pass the 'next' of the page before, with the same sort")},
        )
        if len(cursor) > MAX_CURSOR:
            raise refusal
        try:
            raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        except (binascii.Error, ValueError):
            raise refusal from None
        if not isinstance(raw, list) or len(raw) != len(keys) or raw[-1] is None:
            raise refusal
        try:
            return [
                None if v is None else self.types[k.field.type].coerce(k.field, v)
                for k, v in zip(keys, raw, strict=True)
            ]
        except (Invalid, TypeError, ValueError):
            raise refusal from None

    def apply(
        self, user: User, entity: Entity, query: Query, base: Select
    ) -> tuple[Select, Select]:
        """(page query, count query) for ``query`` on top of ``base``, as ``user`` sees it."""
        page, filtered, _ = self.paged(user, entity, query, base)
        return page, filtered

    def paged(
        self, user: User, entity: Entity, query: Query, base: Select, extra: int = 0
    ) -> tuple[Select, Select, list[SortKey]]:
        """:meth:`apply`, with ``extra`` rows more than the page (to tell whether a page
        follows) and the keys it is sorted by (for that page's cursor)."""
        where = [self.condition(user, entity, c) for c in query.conditions]
        if query.search:
            found = self.search(user, entity, query.search)
            if found is not None:
                where.append(found)
        row_filter = self.visible(user, entity)
        if row_filter is not None:
            where.append(row_filter)
        filtered = base.where(*where)
        ordered, keys = self.sort_keys(user, entity, query.sort, filtered)
        if query.after:
            ordered = ordered.where(self._after(keys, query.after))
        limit = min(query.limit or entity.list.page_size, MAX_LIMIT)
        page = (
            ordered.order_by(*(k.ordering() for k in keys))
            .limit(limit + extra)
            .offset(query.offset)
        )
        return page, filtered, keys


def _equal(column: ColumnElement, value: Any) -> ColumnElement:
    return column.is_(None) if value is None else column == value


def condition_problem(fld: Field, ftype: FieldType, cond: Condition) -> str | None:
    """What is wrong with a definition's condition on ``fld``, of type ``ftype`` (None:
    nothing), found when definitions load rather than when a report first runs."""
    if cond.op not in ftype.ops:
        return msg(
            "'{op}' does not work on {type} fields; they take: {ops}",
            op=cond.op,
            type=fld.type,
            ops=", ".join(ftype.ops),
        )
    if cond.op in AGE_OPS:
        try:
            age_days(cond.value, cond.path)
        except BadQuery as exc:
            return message_of(exc)
    return None


def age_days(raw: Any, path: str) -> int:
    """The whole number of days an age operator takes, 0 to MAX_AGE_DAYS."""
    days = raw if isinstance(raw, int) and not isinstance(raw, bool) else None
    if isinstance(raw, str) and re.fullmatch(r"[0-9]{1,5}", raw.strip()):
        days = int(raw)
    if days is None or not 0 <= days <= MAX_AGE_DAYS:
        raise BadQuery(
            msg(
                "'{path}' takes a whole number of days from 0 to {most}",
                path=path,
                most=MAX_AGE_DAYS,
            ),
            {path: msg("must be a whole number of days from 0 to {most}", most=MAX_AGE_DAYS)},
        )
    return days


def _first_day(timed: bool, days: int) -> date | datetime:
    """The first day (a moment: its start in the business's time zone) no more than
    ``days`` days old: a day's age is today minus that day, today being the business's."""
    day = clock.today() - timedelta(days=days)
    return datetime.combine(day, time(), clock.zone()) if timed else day


def _truth(raw: Any, path: str) -> bool:
    if isinstance(raw, bool):
        return raw
    word = str(raw).strip().lower()
    if word in ("true", "1", "yes"):
        return True
    if word in ("false", "0", "no"):
        return False
    raise BadQuery(
        msg("'{path}': is_null takes true or false", path=path), {path: msg("use true or false")}
    )
