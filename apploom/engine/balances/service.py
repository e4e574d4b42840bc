"""Aggregate tables (聚合表): balances kept over a ledger entity, in the same transaction
as each ledger write, with a declared check enforced atomically.

    stock_move:
      fields: {item: ..., warehouse: ..., kind: ..., qty: ...}
      balances:
        stock:                                   # the table wms_stock
          by: [item, warehouse]
          sums:
            on_hand:  "qty if kind in ['receipt', 'issue'] else 0"
            reserved: "qty if kind in ['reserve', 'release'] else 0"
          check: "on_hand - reserved >= 0"

Each write adds the change in every sum to its balance row with one conditional
``UPDATE ... SET on_hand = on_hand + :d WHERE <key> AND <check on the new values>``;
no row updated means the check would fail, so the write is refused. Nothing is read
and then written in Python, so concurrent writers cannot oversell. On PostgreSQL a write
first locks the record its first key refers to (the item), then its rows in key order:
transactions touching one item's stock in several warehouses, or in turn with rules
that move more of it, queue on the item instead of deadlocking.
"""

from __future__ import annotations

from typing import Any, Mapping

from sqlalchemy import (
    BigInteger,
    Connection,
    Table,
    Update,
    bindparam,
    delete,
    func,
    select,
    update,
)

from apploom.engine.access import permissions
from apploom.engine.access.permissions import User
from apploom.engine.balances.definition import Balance, sums_sql
from apploom.engine.errors import BalanceRefused, Forbidden, NotFound
from apploom.engine.expressions import sandbox
from apploom.engine.messages import msg
from apploom.engine.records.service import Change, RecordService
from apploom.engine.storage.database import insert_ignore


class Balances:
    """Keeps every balance of the loaded apps up to date as ledger records change."""

    def __init__(self, records: RecordService, tables: Mapping[str, Table]):
        self.records = records
        self.tables = tables
        self.by_ledger: dict[str, list[Balance]] = {}
        self._statements: dict[str, tuple[Update, Table]] = {}
        self._first_key_table: dict[str, Table] = {}
        for entity in records.apps.entities():
            for balance in entity.balances:
                self.by_ledger.setdefault(entity.qualified, []).append(balance)
                first = entity.fields[balance.by[0]]
                if records.types[first.type].is_reference:
                    self._first_key_table[balance.table_name()] = records.table(first.target)

    def on_change(self, conn: Connection, change: Change) -> bool:
        for balance in self.by_ledger.get(change.entity.qualified, ()):
            moves: dict[tuple, dict[str, int]] = {}
            for draft, sign in ((change.before, -1), (change.after, 1)):
                if draft is None or change.trigger == "schedule":
                    continue
                key = tuple(draft.values.get(n) for n in balance.by)
                if None in key:
                    continue
                totals = moves.setdefault(key, dict.fromkeys(balance.sums, 0))
                for column, source in balance.sums.items():
                    totals[column] += sign * int(sandbox.evaluate(source, draft.values) or 0)
            moved = sorted(key for key, deltas in moves.items() if any(deltas.values()))
            self._lock_first_keys(conn, balance, {key[0] for key in moved})
            for key in moved:
                self._add(conn, balance, key, moves[key])
        return False

    def _lock_first_keys(self, conn: Connection, balance: Balance, ids: set) -> None:
        """FOR NO KEY UPDATE, which the ledger rows' own key-share locks on the records do
        not block. SQLite's writers queue on the database already."""
        target = self._first_key_table.get(balance.table_name())
        if target is None or not ids or self.records.db.is_sqlite:
            return
        conn.execute(
            select(target.c.id)
            .where(target.c.id.in_(sorted(ids)))
            .order_by(target.c.id)
            .with_for_update(key_share=True)
        )

    def _add(self, conn: Connection, balance: Balance, key: tuple, deltas: dict) -> None:
        change, table = self._statement(balance)
        params = {
            **{f"k_{n}": v for n, v in zip(balance.by, key, strict=True)},
            **{f"d_{c}": d for c, d in deltas.items()},
        }
        if conn.execute(change, params).rowcount == 1:
            return
        insert_ignore(
            conn,
            table,
            {**dict(zip(balance.by, key, strict=True)), **dict.fromkeys(balance.sums, 0)},
        )
        if conn.execute(change, params).rowcount == 1:
            return
        current = (
            conn.execute(
                select(*(table.c[c] for c in balance.sums)).where(
                    *(table.c[n] == v for n, v in zip(balance.by, key, strict=True))
                )
            )
            .mappings()
            .one()
        )
        figures = ", ".join(f"{c} {current[c]}" for c in balance.sums)
        refused = msg(
            "refused by the {balance} balance ({check}): now {figures}",
            balance=balance.name,
            check=balance.check,
            figures=figures,
        )
        raise BalanceRefused({balance.by[0]: refused})

    def _statement(self, balance: Balance) -> tuple[Update, Table]:
        """``UPDATE ... SET sum = sum + :d_sum WHERE key = :k_key AND <check>``, built once."""
        if balance.table_name() not in self._statements:
            table = self.tables[balance.table_name()]
            deltas = {c: bindparam(f"d_{c}", type_=BigInteger) for c in balance.sums}
            where = [table.c[n] == bindparam(f"k_{n}") for n in balance.by]
            if balance.check:
                sums = {c: table.c[c] for c in balance.sums}
                where.append(sums_sql(balance.check, sums, deltas))
            self._statements[balance.table_name()] = (
                update(table)
                .where(*where)
                .values({table.c[c]: table.c[c] + d for c, d in deltas.items()}),
                table,
            )
        return self._statements[balance.table_name()]

    def get(self, name: str, app: str | None = None) -> Balance:
        """The balance called ``name`` (of ``app``, when two apps use the name)."""
        found = [b for b in self._all() if b.name == name and app in (None, b.ledger.split(".")[0])]
        if not found:
            raise NotFound(f"There is no balance '{name}'")
        return found[0]

    def about(self, ref: str) -> list[tuple[Balance, str]]:
        """The balances keyed by a ref to ``ref``, with that key: an item's stock."""
        return [
            (b, key)
            for b in self._all()
            for key in b.by
            if self.records.apps.entity(b.ledger).fields[key].to == ref
        ]

    def rows(
        self,
        user: User,
        name: str,
        where: Mapping[str, int] | None = None,
        *,
        app: str | None = None,
        sort: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[dict], int]:
        """(a page of rows, how many in all): keys, sums and shown figures, for whoever
        may read the whole ledger; ``sort`` is a column, ``-column`` for descending."""
        balance = self.get(name, app)
        ledger = self.records.apps.entity(balance.ledger)
        if permissions.require(self.records.apps, user, ledger, "read") != "all":
            raise Forbidden(
                f"The {balance.name} balance sums every {ledger.label.en} "
                "record; you may read only your own"
            )
        table = self.tables[balance.table_name()]
        sums = {c: table.c[c] for c in balance.sums}
        figures = {n: sums_sql(source, sums, {}) for n, source in balance.show.items()}
        columns = {**{c: table.c[c] for c in (*balance.by, *balance.sums)}, **figures}
        filters = [table.c[k] == v for k, v in (where or {}).items() if k in balance.by]
        by = (sort or "").lstrip("-")
        order = (
            [columns[by].desc() if sort.startswith("-") else columns[by].asc()]
            if sort and by in columns
            else []
        )
        query = (
            select(*(c.label(n) for n, c in columns.items()))
            .where(*filters)
            .order_by(*order, *(table.c[k] for k in balance.by))
            .limit(limit)
            .offset(offset)
        )
        with self.records.db.read() as conn:
            found = [dict(r) for r in conn.execute(query).mappings()]
            total = conn.execute(
                select(func.count()).select_from(table).where(*filters)
            ).scalar_one()
        return found, total

    def read(self, name: str, **key: Any) -> dict | None:
        table = self.tables[self.get(name).table_name()]
        with self.records.db.read() as conn:
            row = (
                conn.execute(select(table).where(*(table.c[k] == v for k, v in key.items())))
                .mappings()
                .first()
            )
        return dict(row) if row else None

    def rebuild(self, name: str) -> int:
        """Recompute a balance from its whole ledger (after an import, or to audit it)."""
        balance = self.get(name)
        ledger = self.records.apps.entity(balance.ledger)
        table = self.tables[balance.table_name()]
        totals: dict[tuple, dict[str, int]] = {}
        with self.records.db.write() as conn:
            rows = conn.execute(select(self.records.tables[ledger.table])).mappings()
            for row in rows:
                key = tuple(row[n] for n in balance.by)
                if None in key:
                    continue
                sums = totals.setdefault(key, dict.fromkeys(balance.sums, 0))
                for column, source in balance.sums.items():
                    sums[column] += int(sandbox.evaluate(source, dict(row)) or 0)
            conn.execute(delete(table))
            if totals:
                conn.execute(
                    table.insert(),
                    [
                        {**dict(zip(balance.by, key, strict=True)), **sums}
                        for key, sums in totals.items()
                    ],
                )
        return len(totals)

    def _all(self) -> list[Balance]:
        return [b for balances in self.by_ledger.values() for b in balances]
