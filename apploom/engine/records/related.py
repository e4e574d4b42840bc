"""What points at a record, for its page: the records of other entities whose ref field
names it (a customer's orders, an item's stock moves), each as a panel with the count,
the latest few, and the sums and dates the ref field's ``related`` asks for (a
customer's lifetime value and last order), and the page about the record its ``link``
names (a customer's statement). Every figure is computed in SQL, as the user may see it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from apploom.engine.access import permissions
from apploom.engine.access.permissions import User
from apploom.engine.definitions.model import Entity, Field, Label
from apploom.engine.query.filters import Condition, Query, parse_where
from apploom.engine.records.service import RecordService

SHOWN = 5


@dataclass(frozen=True)
class Panel:
    entity: Entity  # the entity whose records point here
    field: Field  # its ref field
    label: Label
    total: int
    figures: list[tuple[Label, Field | None, Any]]  # (label, field to show it as, value)
    records: list[dict]
    params: dict[str, str]  # the list's URL parameters that show them all


def related_panels(
    records: RecordService, user: User, entity: Entity, record_id: int
) -> list[Panel]:
    panels = []
    for holder in records.apps.entities():
        if holder.is_child or permissions.scope(records.apps, user, holder, "read") is None:
            continue
        for fld in holder.fields.values():
            if (
                records.types[fld.type].is_reference
                and fld.to == entity.qualified
                and fld.related.shown
            ):
                panel = _panel(records, user, holder, fld, record_id)
                if panel is not None:
                    panels.append(panel)
    return panels


def _panel(
    records: RecordService, user: User, holder: Entity, fld: Field, record_id: int
) -> Panel | None:
    spec = fld.related
    conditions = (*parse_where(dict(spec.where)), Condition(fld.name, "eq", record_id))
    page = records.list(
        user, holder.qualified, Query(conditions=conditions, limit=SHOWN, sort=holder.list.sort)
    )
    if not page.total and spec.link is None:  # a panel linking to a page shows even so
        return None
    figures = []
    wanted = [(label, name, func.sum) for name, label in spec.sums.items()] + [
        (label, name, func.max) for name, label in spec.latest.items()
    ]
    if wanted:
        table = records.tables[holder.table]
        _, filtered = records.compiler.apply(
            user,
            holder,
            Query(conditions=conditions),
            select(*(aggregate(table.c[name]) for _, name, aggregate in wanted)),
        )
        with records.db.read() as conn:
            values = conn.execute(filtered).one()
        for (label, name, _), value in zip(wanted, values, strict=True):
            shown = holder.fields.get(name)
            figures.append(
                (
                    label,
                    shown,
                    None
                    if value is None
                    else (
                        records.types[shown.type].dump(shown, value) if shown else value.isoformat()
                    ),
                )
            )
    return Panel(
        holder,
        fld,
        spec.label or holder.label,
        page.total,
        figures,
        page.data,
        {
            c.path + ("" if c.op == "eq" else f"__{c.op}"): ",".join(map(str, c.value))
            if isinstance(c.value, list)
            else str(c.value)
            for c in conditions
        },
    )
