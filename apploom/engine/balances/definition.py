"""Aggregate tables (聚合表) as defined: a balance over a ledger entity, its table, and the
check that the engine enforces atomically (see balances.py for how writes keep it)."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any, Mapping

from sqlalchemy import BigInteger, Column, ColumnElement, MetaData, Table, UniqueConstraint

from apploom.engine.definitions.model import Entity, Label
from apploom.engine.errors import BadQuery, SandboxError
from apploom.engine.expressions import sandbox
from apploom.engine.messages import message_of, msg
from apploom.engine.query.expressions import COMPARISONS, Term, compile_sql, refused
from apploom.engine.storage.system_tables import ID


@dataclass(frozen=True)
class Balance:
    name: str
    ledger: str  # the ledger entity, "app.entity"
    by: tuple[str, ...]
    sums: Mapping[str, str]  # column -> expression over a ledger row
    check: str | None = None
    label: Label | None = None
    show: Mapping[str, str] = field(default_factory=dict)  # figure -> sums arithmetic
    labels: Mapping[str, Label] = field(default_factory=dict)

    def label_of(self, column: str) -> Label:
        return self.labels.get(column) or Label.parse(None, column)

    def table_name(self) -> str:
        return f"{self.ledger.split('.')[0]}_{self.name}"


def parse_balances(app: str, entity: str, raw: Mapping | None) -> tuple[Balance, ...]:
    return tuple(
        Balance(
            name=name,
            ledger=f"{app}.{entity}",
            by=tuple(spec["by"]),
            sums=dict(spec["sums"]),
            check=spec.get("check"),
            label=Label.parse(spec.get("label"), name),
            show=dict(spec.get("show") or {}),
            labels={k: Label.parse(v, k) for k, v in (spec.get("labels") or {}).items()},
        )
        for name, spec in (raw or {}).items()
    )


def balance_table(metadata: MetaData, balance: Balance, ledger: Entity, types) -> Table:
    """The balance table: the key columns (typed like the ledger's fields) and the sums."""
    key_columns = []
    for name in balance.by:
        fld = ledger.fields[name]
        ftype = types[fld.type]
        fk = ftype.foreign_key(fld)
        key_columns.append(
            Column(name, ftype.column_type(fld), *([fk] if fk is not None else []), nullable=False)
        )
    return Table(
        balance.table_name(),
        metadata,
        Column("id", ID, primary_key=True),
        *key_columns,
        *(Column(c, BigInteger, nullable=False) for c in balance.sums),
        UniqueConstraint(*balance.by, name=f"uq_{balance.table_name()}_key"),
    )


def check_problems(balance: Balance, ledger: Entity) -> list[tuple[tuple, str]]:
    problems: list[tuple[tuple, str]] = [
        (("by",), msg("'{field}' is not a field of {entity}", field=n, entity=ledger.name))
        for n in balance.by
        if n not in ledger.fields
    ]
    for column, source in balance.sums.items():
        try:
            used = sandbox.check_expression(source)
        except SandboxError as exc:
            problems.append(
                (("sums", column), msg("the expression {problem}", problem=message_of(exc)))
            )
            continue
        unknown = (
            {n.id for n in ast.walk(used) if isinstance(n, ast.Name)}
            - set(ledger.fields)
            - set(sandbox.BUILTINS)
        )
        problems += [
            (("sums", column), msg("uses '{name}', which is not a field", name=n)) for n in unknown
        ]
    columns = {c: Column(c, BigInteger) for c in balance.sums}
    figures: list[tuple[tuple[str, ...], str]] = (
        [(("check",), balance.check)] if balance.check else []
    )
    figures += [(("show", name), source) for name, source in balance.show.items()]
    for path, source in figures:
        try:
            sums_sql(source, columns, {})
        except BadQuery as exc:
            problems.append(
                (
                    path,
                    msg("the check {problem}", problem=message_of(exc))
                    if path == ("check",)
                    else msg("{figure} {problem}", figure=path[1], problem=message_of(exc)),
                )
            )
    for name in set(balance.labels) - set(balance.sums) - set(balance.show) - set(balance.by):
        problems.append(
            (("labels", name), msg("'{name}' is not a sum or figure of the balance", name=name))
        )
    return problems


BALANCE_OPERATORS = frozenset({ast.Add, ast.Sub, ast.And}) | COMPARISONS


def sums_sql(source: str, columns: Mapping[str, Any], deltas: Mapping[str, Any]) -> ColumnElement:
    """A check or figure as SQL over the sums (each plus its delta, for a check on the
    values a write would leave)."""
    refusal = msg("may only add, subtract and compare the sums, like 'on_hand - reserved >= 0'")

    def the_sum(name: str) -> Term:
        if name not in columns:
            raise BadQuery(refused(refusal, name))
        return Term(columns[name] + deltas.get(name, 0))

    return compile_sql(source, the_sum, allowed=BALANCE_OPERATORS, refusal=refusal).sql
