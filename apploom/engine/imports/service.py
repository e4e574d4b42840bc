"""Importing records from a spreadsheet: columns mapped to fields, one record per row (or,
when child rows are mapped, one per run of rows repeating the same record columns, as
an order with its lines), refs found by a unique key (an item by SKU, a customer by
email), select values by value or label.

Each record is created in its own savepoint, so a bad row is reported, with its row
number, column and reason, and the rest go on; records commit in batches of 100. A
record whose unique key (``unique: [[channel, external_id]]``) is already there is
counted and skipped, so importing a file twice never duplicates. A dry run does all
of it, rules included, and rolls every batch back. A run taken up again after its
process died starts after the last row its committed batches held.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Mapping

from sqlalchemy import Connection, select, tuple_

from apploom.engine.access import permissions
from apploom.engine.access.permissions import User
from apploom.engine.definitions.model import Entity, Field, Label
from apploom.engine.errors import AppLoomError, Forbidden, ValidationFailed
from apploom.engine.fields.choices import plain
from apploom.engine.records.service import RecordService
from apploom.engine.workflow.service import Transitions

BATCH = 100


@dataclass(frozen=True)
class Target:
    """Where a column goes: ``field``, ``table.field`` (child rows), each optionally
    ``.key`` for a ref found by one of its target's unique fields."""

    field: str
    child: str | None = None
    key: str | None = None

    @property
    def path(self) -> str:
        return ".".join(p for p in (self.field, self.child, self.key) if p)


@dataclass
class ImportReport:
    records: int = 0
    created: int = 0
    existing: int = 0
    errors: list[dict] = field(default_factory=list)  # {row, column, message}
    dry_run: bool = False
    after_row: int = 0  # the last file row the committed batches held
    done: int = 0  # records handled so far, of ``total``
    total: int = 0

    def as_dict(self) -> dict:
        return {
            "records": self.records,
            "created": self.created,
            "existing": self.existing,
            "errors": self.errors,
            "dry_run": self.dry_run,
            "after_row": self.after_row,
            "done": self.done,
            "total": self.total,
        }

    @classmethod
    def of(cls, saved: Mapping) -> ImportReport:
        return cls(**{k: v for k, v in saved.items() if k in cls.__dataclass_fields__})


# Called inside each batch's transaction, with the report as it stands once the batch
# commits: what it writes commits with the batch, or neither does.
Committed = Callable[[Connection, ImportReport], None]


@dataclass
class _Record:
    rows: list[int]  # row numbers in the file (header is 1)
    values: dict[str, str]
    children: list[dict[str, str]]  # one per row: its child targets' cells
    data: dict = field(default_factory=dict)
    problems: list[dict] = field(default_factory=list)


class Importer:
    def __init__(self, records: RecordService, transitions: Transitions):
        self.records = records
        self.transitions = transitions

    # ---- what a column may map to -------------------------------------------------------
    def targets(self, entity: Entity) -> dict[str, Label]:
        """Every target a column may map to, with its label: {path: Label}."""
        found: dict[str, Label] = {}
        for fld in self._writable(entity):
            if fld.holds_rows:
                child = self.records.apps.entity(fld.child)
                for sub in self._writable(child):
                    for path, text in self._field_targets(sub):
                        found[f"{fld.name}.{path}"] = _joined(fld.label, text)
            else:
                found.update(self._field_targets(fld))
        return found

    def guess(self, entity: Entity, header: list[str]) -> dict[str, str]:
        """A first mapping by name or label (English or Chinese), for the admin to check."""
        names: dict[str, str] = {}
        for path, text in self.targets(entity).items():
            for name in (path, text.en, text.zh, text.zh.split(" › ")[-1]):
                names.setdefault(plain(name), path)
        return {column: names[plain(column)] for column in header if plain(column) in names}

    def _field_targets(self, fld: Field) -> list[tuple[str, Label]]:
        types = self.records.types
        if not types[fld.type].is_reference:
            return [(fld.name, fld.label)]
        target = self.records.apps.entity(fld.target)
        keys = [f for f in target.fields.values() if f.unique and types[f.type].import_key]
        return [(fld.name, _joined(fld.label, Label("id", "id")))] + [
            (f"{fld.name}.{k.name}", _joined(fld.label, k.label)) for k in keys
        ]

    def _writable(self, entity: Entity) -> list[Field]:
        state = entity.workflow.field if entity.workflow else None
        types = self.records.types
        return [
            f
            for f in entity.fields.values()
            if not types.computed(f)
            and not f.readonly
            and f.name != state
            and not types[f.type].holds_file
        ]

    # ---- the import -------------------------------------------------------------------
    def run(
        self,
        user: User,
        ref: str,
        header: list[str],
        rows: list[list[str]],
        mapping: Mapping[str, str],
        *,
        dry_run: bool = False,
        then: str | None = None,
        progress: Callable[[int, int], None] = lambda done, total: None,
        report: ImportReport | None = None,
        committed: Committed | None = None,
    ) -> ImportReport:
        """Import ``rows`` (cells in ``header`` order) with ``mapping`` (column -> target);
        ``then`` names a transition to take on each new record (say, confirm an order).
        ``report`` is filled as batches commit, so a caller keeps it if a later one fails;
        one from an earlier run of the same file resumes after its ``after_row``."""
        entity = self.records.entity(ref)
        targets = self.check(user, entity, header, mapping, then)
        report = report or ImportReport()
        grouped = self._group(targets, header, rows)
        batch = [r for r in grouped if r.rows[0] > report.after_row]
        if not report.after_row:
            report.records = len(grouped)
        report.dry_run = dry_run
        self._resolve(user, entity, targets, batch)
        counted = ImportReport() if report.after_row else report  # resumed: counted before
        pending = self._skip_existing(user, entity, targets, batch, counted)
        report.total = report.done + len(pending)
        progress(report.done, report.total)
        for start in range(0, len(pending), BATCH):
            self._write(
                user,
                entity,
                pending[start : start + BATCH],
                targets,
                then,
                dry_run,
                report,
                committed,
            )
            progress(report.done, report.total)
        report.errors.sort(key=lambda e: e["row"])
        return report

    def check(
        self,
        user: User,
        entity: Entity,
        header: list[str],
        mapping: Mapping[str, str],
        then: str | None,
    ) -> dict[str, Target]:
        """Everything about an import that the file's header tells, before any row is
        read: the user's rights, the transition to take, the mapping; {column: target}."""
        permissions.require(self.records.apps, user, entity, "create")
        workflow = entity.workflow
        if then is not None and (workflow is None or then not in workflow.transitions):
            raise ValidationFailed(
                {
                    "then": f"'{then}' is not a transition; choose one of: "
                    + ", ".join(workflow.transitions if workflow else [])
                }
            )
        if then is not None and not self.transitions.may(user, entity.qualified, then):
            raise Forbidden(f"You may not take '{then}' on {entity.label.en} records")
        targets = self.check_mapping(entity, header, mapping)
        self._check_lookups(user, entity, targets)
        return targets

    def check_mapping(
        self, entity: Entity, header: list[str], mapping: Mapping[str, str]
    ) -> dict[str, Target]:
        """{column: target} for a mapping, or ValidationFailed naming each bad column."""
        known = self.targets(entity)
        problems = {}
        for column in {c for c in header if header.count(c) > 1 and mapping.get(c)}:
            problems[column] = "appears twice in the header; rename one of them"
        targets: dict[str, Target] = {}
        for column, path in mapping.items():
            if not path:
                continue
            if column not in header:
                problems[column] = "is not a column of the file"
            elif path not in known:
                problems[column] = f"'{path}' is not something a column can fill"
            elif path in {t.path for t in targets.values()}:
                problems[column] = f"'{path}' is filled by two columns"
            else:
                targets[column] = _target(entity, path)
        if not targets and not problems:
            problems["mapping"] = "map at least one column to a field"
        if problems:
            raise ValidationFailed(problems)
        return targets

    def _check_lookups(self, user: User, entity: Entity, targets: dict[str, Target]) -> None:
        """Looking a ref up by key reads its entity: the user must be allowed to."""
        problems = {}
        for column, target in targets.items():
            if target.key is not None:
                found = self.records.apps.entity(
                    _field_of(entity, target, self.records.apps).target
                )
                if permissions.scope(self.records.apps, user, found, "read") is None:
                    problems[column] = (
                        f"you may not read {found.label.en} records, so they cannot be looked up"
                    )
        if problems:
            raise ValidationFailed(problems)

    def _group(
        self, targets: dict[str, Target], header: list[str], rows: list[list[str]]
    ) -> list[_Record]:
        index = {column: header.index(column) for column in targets}
        own = [c for c, t in targets.items() if t.child is None]
        child = [c for c, t in targets.items() if t.child is not None]
        found: list[_Record] = []
        for number, row in enumerate(rows, start=2):
            values = {c: _cell(row, index[c]) for c in own}
            if child and found and found[-1].values == values:
                record = found[-1]
            else:
                record = _Record([], values, [])
                found.append(record)
            record.rows.append(number)
            record.children.append({c: _cell(row, index[c]) for c in child})
        return found

    def _resolve(
        self, user: User, entity: Entity, targets: dict[str, Target], batch: list[_Record]
    ) -> None:
        """Turn each record's text into the data the record service reads: refs looked
        up by key in one query per column, select labels to values."""
        apps = self.records.apps
        lookups: dict[str, dict[str, int]] = {}
        with self.records.db.read() as conn:
            for column, target in targets.items():
                if target.key is None:
                    continue
                found = apps.entity(_field_of(entity, target, apps).target)
                table = self.records.tables[found.table]
                wanted = {
                    cells.get(column)
                    for record in batch
                    for cells in [record.values, *record.children]
                } - {None, ""}
                query = select(table.c[target.key], table.c.id).where(
                    table.c[target.key].in_(sorted(wanted))
                )
                lookups[column] = (
                    dict(
                        conn.execute(
                            _visible(query, self.records.compiler.visible(user, found))
                        ).all()
                    )
                    if wanted
                    else {}
                )
        for record in batch:
            record.data = {}
            for column, target in targets.items():
                if target.child is None:
                    record.data[target.field] = self._value(
                        entity,
                        target,
                        column,
                        record.values[column],
                        lookups,
                        record,
                        record.rows[0],
                    )
            tables = {t.field for t in targets.values() if t.child is not None}
            for name in tables:
                record.data[name] = []
            for number, cells in zip(record.rows, record.children, strict=True):
                rows_by_table: dict[str, dict] = {name: {} for name in tables}
                for column, value in cells.items():
                    target = targets[column]
                    rows_by_table[target.field][target.child] = self._value(
                        entity, target, column, value, lookups, record, number
                    )
                for name, row in rows_by_table.items():
                    record.data[name].append(row)

    def _value(
        self,
        entity: Entity,
        target: Target,
        column: str,
        text: str,
        lookups: dict,
        record: _Record,
        row: int,
    ):
        if text == "":
            return None
        fld = _field_of(entity, target, self.records.apps)
        if target.key is not None:
            found = lookups[column].get(text)
            if found is None:
                what = self.records.apps.entity(fld.target)
                record.problems.append(
                    {
                        "row": row,
                        "column": column,
                        "message": (f"there is no {what.label.en} with {target.key} '{text}'"),
                    }
                )
            return found
        return self.records.types[fld.type].parse_text(fld, text)

    def _skip_existing(
        self,
        user: User,
        entity: Entity,
        targets: dict[str, Target],
        batch: list[_Record],
        report: ImportReport,
    ) -> list[_Record]:
        """Records already there by a unique key (a field, or a combination) are counted
        and left alone."""
        direct = {t.field for t in targets.values() if t.child is None and t.key is None}
        keys = [
            names
            for names in (*entity.unique, *((f.name,) for f in entity.fields.values() if f.unique))
            if set(names) <= direct
        ]
        visible = self.records.compiler.visible(user, entity)
        table = self.records.tables[entity.table]
        existing: set[tuple] = set()
        with self.records.db.read() as conn:
            for names in keys:
                given = {tuple(r.data.get(n) for n in names) for r in batch}
                wanted = [w for w in given if None not in w]
                for start in range(0, len(wanted), 500):
                    columns = tuple_(*(table.c[n] for n in names))
                    query = select(*(table.c[n] for n in names)).where(
                        columns.in_(wanted[start : start + 500])
                    )
                    existing |= {
                        (names, tuple(str(v) for v in row))
                        for row in conn.execute(_visible(query, visible)).all()
                    }
        pending = []
        for record in batch:
            if any(
                (names, tuple(str(record.data.get(n)) for n in names)) in existing for names in keys
            ):
                report.existing += 1
            elif record.problems:
                report.errors += record.problems
            else:
                pending.append(record)
        return pending

    def _write(
        self,
        user: User,
        entity: Entity,
        batch: list[_Record],
        targets: dict[str, Target],
        then: str | None,
        dry_run: bool,
        report: ImportReport,
        committed: Committed | None,
    ) -> None:

        def work(conn: Connection) -> ImportReport:
            created, errors = 0, []
            for record in batch:
                try:
                    with conn.begin_nested():
                        made = self.records.create_in(conn, user, entity, record.data)
                        if then is not None:
                            self.transitions.take_in(conn, user, entity, then, made["id"])
                    created += 1
                except AppLoomError as exc:
                    errors += _errors(record, targets, exc)
            after = replace(
                report,
                created=report.created + created,
                errors=report.errors + errors,
                done=report.done + len(batch),
                after_row=report.after_row if dry_run else batch[-1].rows[-1],
            )
            if dry_run:
                raise _RolledBack(after)
            if committed is not None:
                committed(conn, after)
            return after

        try:
            after = self.records.transaction(work)
        except _RolledBack as rolled_back:
            after = rolled_back.report
        for name in ("created", "errors", "done", "after_row"):
            setattr(report, name, getattr(after, name))


class _RolledBack(Exception):
    """Ends a dry run's batch: its transaction rolls back; ``report`` is what it did."""

    def __init__(self, report: ImportReport):
        self.report = report


def _visible(query, row_filter):
    return query if row_filter is None else query.where(row_filter)


def _errors(record: _Record, targets: dict[str, Target], exc: AppLoomError) -> list[dict]:
    """The error of one record, per field, at the row and column it came from."""
    if not isinstance(exc, ValidationFailed):
        return [{"row": record.rows[0], "column": None, "message": str(exc)}]
    by_path = {t.path.removesuffix(f".{t.key}") if t.key else t.path: c for c, t in targets.items()}
    found = []
    for key, message in exc.fields.items():
        parts = key.split(".")
        if len(parts) >= 3 and parts[1].isdigit():  # lines.2.qty: the third child row
            row = record.rows[min(int(parts[1]), len(record.rows) - 1)]
            column = by_path.get(f"{parts[0]}.{parts[2]}")
        else:
            row, column = record.rows[0], by_path.get(parts[0])
        found.append(
            {"row": row, "column": column, "message": message if column else f"{key}: {message}"}
        )
    return found


def _target(entity: Entity, path: str) -> Target:
    parts = path.split(".")
    fld = entity.fields[parts[0]]
    if fld.holds_rows:
        return Target(parts[0], parts[1], parts[2] if len(parts) > 2 else None)
    return Target(parts[0], None, parts[1] if len(parts) > 1 else None)


def _field_of(entity: Entity, target: Target, apps) -> Field:
    fld = entity.fields[target.field]
    return apps.entity(fld.of).fields[target.child] if target.child else fld


def _joined(first: Label, second: Label) -> Label:
    return Label(f"{first.en} › {second.en}", f"{first.zh or first.en} › {second.zh or second.en}")


def _cell(row: list[str], column: int) -> str:
    """A cell's text; rows are not padded to the header, so a missing cell is empty."""
    return row[column].strip() if column < len(row) else ""
