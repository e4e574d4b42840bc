"""Records' human names, from each entity's ``title`` template, fetched in batches so
a list of refs costs one query per referenced entity, never one per row."""

from __future__ import annotations

import re
from typing import Mapping

from sqlalchemy import Connection, select

from apploom.engine.access import permissions
from apploom.engine.access.permissions import SYSTEM_USER, User
from apploom.engine.definitions.model import SYSTEM_COLUMNS, AppSet, Entity
from apploom.engine.fields.registry import FieldTypes

TOKEN = re.compile(r"\{([a-z0-9_]+)\}")


def title_template(entity: Entity, types: FieldTypes) -> str:
    """The entity's ``title``, or its number or first text field."""
    if entity.title:
        return entity.title
    for name in ("number", "name", "title", "code"):
        if name in entity.fields:
            return "{%s}" % name
    first = next((f.name for f in entity.fields.values() if types[f.type].names_record), None)
    return "{%s}" % first if first else "#{id}"


class Titles:
    def __init__(self, apps: AppSet, types: FieldTypes, tables: Mapping):
        self.apps = apps
        self.types = types
        self.tables = tables

    def of(
        self,
        conn: Connection,
        user: User,
        entity: Entity,
        ids: set[int],
        lang: str = "en",
        follow_refs: bool = True,
    ) -> dict[int, str]:
        """{id: title} for the records of ``ids`` the user may read ('#id' for the rest).
        A title naming a ref (an order's customer) shows the ref's title even when the
        user may not read that record: they may read the one whose title it is."""
        ids = {i for i in ids if i is not None}
        titles = {i: f"#{i}" for i in ids}
        scope = permissions.scope(self.apps, user, entity, "read")
        if not ids or scope is None:
            return titles
        template = title_template(entity, self.types)
        tokens = [t for t in TOKEN.findall(template) if t in entity.fields or t in SYSTEM_COLUMNS]
        table = self.tables[entity.table]
        query = select(table.c.id, *(table.c[t] for t in tokens if t != "id")).where(
            table.c.id.in_(ids)
        )
        if scope == "own":
            query = query.where(table.c.created_by == user.id)
        rows = [dict(r._mapping) for r in conn.execute(query)]
        nested = {}
        for token in tokens:
            fld = entity.fields.get(token)
            if fld is not None and self.types[fld.type].is_reference:
                target_ids = {r[token] for r in rows}
                nested[token] = (
                    self.of(
                        conn,
                        SYSTEM_USER,  # refs of rows the user may read, as on their page
                        self.apps.entity(fld.target),
                        target_ids,
                        lang,
                        follow_refs=False,
                    )
                    if follow_refs
                    else {i: f"#{i}" for i in target_ids if i}
                )
        for row in rows:
            titles[row["id"]] = self._fill(entity, template, row, nested, lang)
        return titles

    def _fill(self, entity: Entity, template: str, row: dict, nested: dict, lang: str) -> str:
        return TOKEN.sub(
            lambda m: self._text(entity, m.group(1), row, nested, lang), template
        ).strip()

    def _text(self, entity: Entity, token: str, row: dict, nested: dict, lang: str) -> str:
        value = row.get(token)
        if value is None:
            return ""
        if token in nested:
            return nested[token].get(value, f"#{value}")
        fld = entity.fields.get(token)
        if fld is not None and fld.options:
            labels = {o.value: o.label.get(lang) for o in fld.options}
            return labels.get(value, str(value))
        dumped = self.types[fld.type].dump(fld, value) if fld is not None else value
        return str(dumped)
