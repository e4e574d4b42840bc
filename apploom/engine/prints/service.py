"""What a printout shows: records with their rows, each value as people read it, and the
records their refs point at, gathered once for a whole batch.

The reader's rights decide, as on screen: the records printed are those they may read
(any other id is NotFound, as a record page would say), a ref they may follow shows the
record it points at, and a ref to what they may not read shows its title only (the
warehouse prints the customer's name on a delivery note without reading customers).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

from apploom.engine import formatting
from apploom.engine.access import permissions
from apploom.engine.access.permissions import User
from apploom.engine.definitions.model import Entity
from apploom.engine.errors import NotFound
from apploom.engine.messages import msg
from apploom.engine.prints.definition import Print
from apploom.engine.records.service import RecordService

MAX_BATCH = 500  # records in one printout: a batch PDF stays a download, not a night's work


class Printed(dict):
    """A record as a printout reads it: field -> text (whole numbers stay numbers, refs
    are the records they point at, tables their rows); it prints as its title."""

    def __init__(self, values: Mapping[str, Any], title: str):
        super().__init__(values)
        self._title = title

    def __str__(self) -> str:
        return self._title


class PrintDocuments:
    def __init__(self, records: RecordService, user_names: Callable[[set[int]], dict[int, str]]):
        self.records = records
        self.user_names = user_names
        # Functions print templates may call besides the built-in ones; plugins add theirs
        # from their start-up hook (the tracking plugin adds tracking_link(number)).
        self.helpers: dict[str, Callable[..., Any]] = {}

    def spec(self, ref: str, name: str) -> Print:
        entity = self.records.entity(ref)
        if name not in entity.prints:
            known = ", ".join(entity.prints) or "none"
            raise NotFound(
                msg(
                    "{entity} has no print '{name}' (its prints: {known})",
                    entity=entity.label,
                    name=name,
                    known=known,
                )
            )
        return entity.prints[name]

    def records_of(self, user: User, ref: str, ids: Iterable[int], lang: str) -> list[Printed]:
        """The records of ``ids``, in that order, as printouts read them."""
        entity = self.records.entity(ref)
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            raise NotFound(msg("Choose the {entity} records to print", entity=entity.label))
        if len(wanted) > MAX_BATCH:
            raise NotFound(
                msg(
                    "At most {most} records print at once; {count} were chosen",
                    most=MAX_BATCH,
                    count=len(wanted),
                )
            )
        row_filter = self.records.compiler.visible(user, entity)
        with self.records.db.read() as conn:
            drafts = self.records.load(conn, entity, wanted, row_filter)
        missing = [i for i in wanted if i not in drafts]
        if missing:
            raise NotFound(
                msg("There is no {entity} with id {id}", entity=entity.label, id=missing[0])
            )
        rows = [self.records.dump(entity, drafts[i]) for i in wanted]
        titles = self.records.titles(user, ref, set(wanted), lang)
        return self._printed(user, entity, rows, lang, [titles[i] for i in wanted], follow=True)

    def labels(self, ref: str, lang: str) -> Printed:
        """Each field's label (``labels.qty``); a table's is also its rows' labels
        (``labels.lines.qty``), and a ref's the labels of the entity it points at."""
        return self._labels(self.records.entity(ref), lang, depth=2)

    def _labels(self, entity: Entity, lang: str, depth: int) -> Printed:
        found: dict[str, Any] = {}
        for fld in entity.fields.values():
            text = fld.label.get(lang)
            found[fld.name] = text
            if fld.holds_rows:  # its rows are this record's: they take no step of depth
                found[fld.name] = self._labels(self.records.apps.entity(fld.child), lang, depth)
            elif fld.to and depth > 1:
                found[fld.name] = self._labels(self.records.apps.entity(fld.to), lang, depth - 1)
            if isinstance(found[fld.name], Printed):
                found[fld.name]._title = text
        return Printed(found, entity.label.get(lang))

    def _printed(
        self,
        user: User,
        entity: Entity,
        rows: list[dict],
        lang: str,
        titles: list[str],
        follow: bool,
    ) -> list[Printed]:
        """``rows`` (JSON form) of ``entity`` as Printed, refs followed when ``follow``."""
        types = self.records.types
        shown: list[dict[str, Any]] = [
            {"id": row.get("id")}
            | {n: _moment(row[n], lang) for n in ("created_at", "updated_at") if n in row}
            for row in rows
        ]
        people = self.user_names(
            {
                row[f.name]
                for row in rows
                for f in entity.fields.values()
                if types[f.type].is_user and isinstance(row.get(f.name), int)
            }
        )
        for fld in entity.fields.values():
            ftype = types[fld.type]
            if fld.holds_rows:
                self._rows_into(user, entity, fld.name, rows, shown, lang)
            elif ftype.is_reference:
                self._refs_into(user, entity, fld.name, rows, shown, lang, follow)
            for row, out in zip(rows, shown, strict=True):
                value = row.get(fld.name)
                if fld.holds_rows or ftype.is_reference:
                    continue
                if ftype.is_user:
                    out[fld.name] = people.get(value, "") if value is not None else ""
                elif value is None or value == []:
                    out[fld.name] = ""
                elif isinstance(value, int) and not isinstance(value, bool):
                    out[fld.name] = value
                else:
                    out[fld.name] = ftype.display(fld, value, lang, {})
        return [Printed(out, title) for out, title in zip(shown, titles, strict=True)]

    def _rows_into(self, user, entity, name, rows, shown, lang) -> None:
        child = self.records.apps.entity(entity.fields[name].child)
        lines = [line for row in rows for line in row.get(name) or []]
        printed = iter(self._printed(user, child, lines, lang, [""] * len(lines), follow=True))
        for row, out in zip(rows, shown, strict=True):
            out[name] = [next(printed) for _ in row.get(name) or []]

    def _refs_into(self, user, entity, name, rows, shown, lang, follow) -> None:
        fld = entity.fields[name]
        target = self.records.apps.entity(fld.target)
        ids = {row[name] for row in rows if isinstance(row.get(name), int)}
        titles = self.records.titles(
            user, target.qualified, ids, lang, via=(entity.qualified, name)
        )
        found: dict[int, Printed] = {}
        if follow and ids and permissions.scope(self.records.apps, user, target, "read"):
            row_filter = self.records.compiler.visible(user, target)
            with self.records.db.read() as conn:
                drafts = self.records.load(conn, target, sorted(ids), row_filter)
            dumped = [self.records.dump(target, d) for d in drafts.values()]
            printed = self._printed(
                user, target, dumped, lang, [titles[d["id"]] for d in dumped], follow=False
            )
            found = {p["id"]: p for p in printed}
        for row, out in zip(rows, shown, strict=True):
            value = row.get(name)
            if value is None:
                out[name] = Printed({}, "")
            else:
                out[name] = found.get(value) or Printed({"id": value}, titles.get(value, ""))


def _moment(value: Any, lang: str) -> str:
    return formatting.moment(value, lang) if value else ""
