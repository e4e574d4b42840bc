"""Importing records from a spreadsheet: columns mapped to fields, one record per row (or,
when child rows are mapped, one per run of rows of the same record, as an order with its
lines: a row whose record cells are blank, or repeat the record's key, continues the one
above, as shops' exports write them), refs found by a key (an item by SKU, a customer by
email or phone) and optionally created when missing, select values by value or label,
and constants (channel = marketplace) for fields the file does not hold.

Each record is created in its own savepoint, so a bad row is reported, with its row
number, column and reason, and the rest go on; records commit in batches of 100. A
record whose unique key (``unique: [[channel, external_id]]``) is already there is
counted and skipped, so importing a file twice never duplicates. A dry run does all
of it, rules included, and rolls every batch back. A run taken up again after its
process died starts after the last row its committed batches held.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Mapping

from sqlalchemy import Connection, select, tuple_

from apploom.engine.access import permissions
from apploom.engine.access.permissions import User
from apploom.engine.definitions.model import Entity, Field, Label
from apploom.engine.errors import AppLoomError, Forbidden, ValidationFailed
from apploom.engine.fields.base import Invalid
from apploom.engine.fields.choices import plain
from apploom.engine.imports.layout import Record, Target, errors_at, group
from apploom.engine.imports.lookups import Column, Lookups, Missing, lookup_keys, naming_fields
from apploom.engine.kept_messages import kept, restored
from apploom.engine.messages import msg
from apploom.engine.records.service import RecordService
from apploom.engine.workflow.service import Transitions

BATCH = 100


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
            "errors": [kept(e) for e in self.errors],
            "dry_run": self.dry_run,
            "after_row": self.after_row,
            "done": self.done,
            "total": self.total,
        }

    @classmethod
    def of(cls, saved: Mapping) -> ImportReport:
        found = cls(**{k: v for k, v in saved.items() if k in cls.__dataclass_fields__})
        found.errors = [restored(e) for e in found.errors]
        return found


# Called inside each batch's transaction, with the report as it stands once the batch
# commits: what it writes commits with the batch, or neither does.
Committed = Callable[[Connection, ImportReport], None]


@dataclass(frozen=True)
class Options:
    """What an import does beyond its mapping: ``then`` a transition to take on each new
    record; ``constants`` {field: text} for every record (read as a cell would be);
    ``create`` the ref fields whose missing records are created (a new customer)."""

    then: str | None = None
    constants: Mapping[str, str] = field(default_factory=dict)
    create: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls,
        then: str | None = None,
        constants: Mapping[str, str] | None = None,
        create: Iterable[str] = (),
    ) -> Options:
        return cls(then, dict(constants or {}), frozenset(create or ()))


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
        found.update(self._naming_targets(entity))  # last: a guess prefers the others
        return found

    def constant_targets(self, entity: Entity) -> dict[str, Label]:
        """The fields a constant may fill: the record's own, but refs."""
        types = self.records.types
        return {
            f.name: f.label
            for f in self._writable(entity)
            if not f.holds_rows and not types[f.type].is_reference
        }

    def creatable(self, entity: Entity) -> dict[str, Label]:
        """The record's own ref fields whose missing records an import may create (those
        whose target a naming field titles, its keys finding them): {field: label}."""
        types, apps = self.records.types, self.records.apps
        return {
            f.name: f.label
            for f in self._writable(entity)
            if types[f.type].is_reference
            and not f.holds_rows
            and lookup_keys(self.records, apps.entity(f.target))
        }

    def _naming_targets(self, entity: Entity) -> dict[str, Label]:
        """What names a new record of a ref (a customer's name), for imports that create
        the missing ones."""
        types, apps = self.records.types, self.records.apps
        found = {}
        for fld in self._writable(entity):
            if types[fld.type].is_reference and not fld.holds_rows:
                for sub in naming_fields(self.records, apps.entity(fld.target)):
                    found[f"{fld.name}.{sub.name}"] = _joined(
                        fld.label, Label(f"{sub.label.en} (new ones)", f"{sub.label.zh}（新建时）")
                    )
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
        keys = lookup_keys(self.records, self.records.apps.entity(fld.target))
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
        constants: Mapping[str, str] | None = None,
        create: Iterable[str] = (),
        progress: Callable[[int, int], None] = lambda done, total: None,
        report: ImportReport | None = None,
        committed: Committed | None = None,
    ) -> ImportReport:
        """Import ``rows`` (cells in ``header`` order) with ``mapping`` (column -> target);
        ``then`` names a transition to take on each new record (say, confirm an order),
        ``constants`` fill fields for every record, ``create`` names the ref fields whose
        missing records are created. ``report`` is filled as batches commit, so a caller
        keeps it if a later one fails; one from an earlier run of the same file resumes
        after its ``after_row``."""
        entity = self.records.entity(ref)
        options = Options.of(then, constants, create)
        targets = self.check(user, entity, header, mapping, options)
        report = report or ImportReport()
        grouped = group(entity, targets, header, rows)
        batch = [r for r in grouped if r.rows[0] > report.after_row]
        if not report.after_row:
            report.records = len(grouped)
        report.dry_run = dry_run
        self._resolve(user, entity, targets, options, batch)
        counted = ImportReport() if report.after_row else report  # resumed: counted before
        pending = self._skip_existing(user, entity, targets, options, batch, counted)
        report.total = report.done + len(pending)
        progress(report.done, report.total)
        made: dict[tuple, int] = {}  # records created for refs, by what they are known by
        for start in range(0, len(pending), BATCH):
            self._write(
                user,
                entity,
                pending[start : start + BATCH],
                targets,
                options.then,
                dry_run,
                report,
                committed,
                made,
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
        options: Options | None = None,
    ) -> dict[str, Target]:
        """Everything about an import that the file's header tells, before any row is
        read: the user's rights, the transition to take, the mapping, the constants and
        the refs to create; {column: target}."""
        options = options or Options()
        permissions.require(self.records.apps, user, entity, "create")
        then, workflow = options.then, entity.workflow
        if then is not None and (workflow is None or then not in workflow.transitions):
            raise ValidationFailed(
                {
                    "then": msg(
                        "'{then}' is not a transition; choose one of: {names}",
                        then=then,
                        names=", ".join(workflow.transitions if workflow else []),
                    )
                }
            )
        if then is not None and not self.transitions.may(user, entity.qualified, then):
            raise Forbidden(
                msg("You may not take '{then}' on {entity} records", then=then, entity=entity.label)
            )
        targets = self.check_mapping(entity, header, mapping)
        self._constants(entity, targets, options.constants)
        self._check_create(user, entity, targets, options.create)
        self._check_lookups(user, entity, targets)
        return targets

    def check_mapping(
        self, entity: Entity, header: list[str], mapping: Mapping[str, str]
    ) -> dict[str, Target]:
        """{column: target} for a mapping, or ValidationFailed naming each bad column."""
        known = self.targets(entity)
        problems = {}
        for column in {c for c in header if header.count(c) > 1 and mapping.get(c)}:
            problems[column] = msg("appears twice in the header; rename one of them")
        targets: dict[str, Target] = {}
        for column, path in mapping.items():
            if not path:
                continue
            if column not in header:
                problems[column] = msg("is not a column of the file")
            elif path not in known:
                problems[column] = msg("'{path}' is not something a column can fill", path=path)
            elif path in {t.path for t in targets.values()}:
                problems[column] = msg("'{path}' is filled by two columns", path=path)
            else:
                targets[column] = _target(entity, path)
        if not targets and not problems:
            problems["mapping"] = msg("map at least one column to a field")
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
                    problems[column] = msg(
                        "you may not read {entity} records, so they cannot be looked up",
                        entity=found.label,
                    )
        if problems:
            raise ValidationFailed(problems)

    def _constants(
        self, entity: Entity, targets: dict[str, Target], constants: Mapping[str, str]
    ) -> dict:
        """{field: value} of the constants, each read and checked as its field's cell
        would be; ValidationFailed naming ``constants.<field>`` for a bad one."""
        known, types = self.constant_targets(entity), self.records.types
        mapped = {t.field for t in targets.values() if t.child is None}
        values: dict = {}
        problems: dict[str, str] = {}
        for path, text in constants.items():
            at = f"constants.{path}"
            text = (text or "").strip() if isinstance(text, str) else text
            if path not in known:
                problems[at] = msg("is not a field of the record itself that a column could fill")
            elif not isinstance(text, str) or not text:
                problems[at] = msg("give the value as text")
            elif path in mapped:
                problems[at] = msg("is filled by a column of the file too; skip one of them")
            else:
                fld = entity.fields[path]
                kind = types[fld.type]
                try:
                    values[path] = kind.parse_text(fld, text)
                    kind.check(fld, kind.coerce(fld, values[path]))
                except Invalid as exc:
                    problems[at] = exc.message
        if problems:
            raise ValidationFailed(problems)
        return values

    def _check_create(
        self, user: User, entity: Entity, targets: dict[str, Target], create: frozenset[str]
    ) -> None:
        """Creating the missing records of a ref takes a column that finds them, the
        columns a new one needs, and the right to create them."""
        apps, problems = self.records.apps, {}
        naming = set(self._naming_targets(entity))
        for column, target in targets.items():
            if target.path in naming and target.field not in create:
                problems[column] = msg(
                    "'{path}' only names new records: choose to create the missing ones",
                    path=target.path,
                )
        for name in sorted(create):
            at = f"create.{name}"
            if name not in self.creatable(entity):
                problems[at] = msg("is not a reference field of the record itself found by a key")
                continue
            found = apps.entity(entity.fields[name].target)
            given = {t.key for t in targets.values() if t.field == name and t.child is None}
            keys = [f.name for f in lookup_keys(self.records, found)]
            needed = [f.name for f in naming_fields(self.records, found)]
            if not given & set(keys):
                problems[at] = msg(
                    "map a column to one of {entity}'s keys ({keys}): a new one is made when it "
                    "finds none",
                    entity=found.label,
                    keys=", ".join(keys),
                )
            elif missing := [n for n in needed if n not in given]:
                problems[at] = msg(
                    "new {entity} records need a column for: {columns}",
                    entity=found.label,
                    columns=", ".join(f"{name}.{n}" for n in missing),
                )
            elif permissions.scope(apps, user, found, "create") is None:
                problems[at] = msg("you may not create {entity} records", entity=found.label)
        if problems:
            raise ValidationFailed(problems)

    def _resolve(
        self,
        user: User,
        entity: Entity,
        targets: dict[str, Target],
        options: Options,
        batch: list[Record],
    ) -> None:
        """Turn each record's text into the data the record service reads: constants
        first, refs looked up by key in one query per column, select labels to values."""
        apps = self.records.apps
        constants = self._constants(entity, targets, options.constants)
        lookups = Lookups(self.records, user)
        by_ref: dict[tuple[str, str | None], tuple[Field, list[Column]]] = {}
        for column, target in targets.items():
            if target.key is None:
                continue
            ref = _field_of(entity, target, apps)
            found = apps.entity(ref.target)
            finds = target.key in {f.name for f in lookup_keys(self.records, found)}
            looked_up = Column(column, target.key, finds)
            by_ref.setdefault((target.field, target.child), (ref, []))[1].append(looked_up)
            lookups.load(
                looked_up,
                found,
                {cells.get(column, "") for r in batch for cells in [r.values, *r.children]},
            )
        for record in batch:
            record.data = dict(constants)
            record.missing = {}
            tables = {t.field for t in targets.values() if t.child is not None}
            for column, target in targets.items():
                if target.child is None and target.key is None:
                    record.data[target.field] = self._value(entity, target, record.values[column])
            for (name, child), (ref, columns) in by_ref.items():
                if child is None:
                    record.data[name] = self._find(
                        lookups,
                        ref,
                        columns,
                        record,
                        record.values,
                        record.rows[0],
                        name in options.create,
                    )
            for name in tables:
                record.data[name] = []
            for number, cells in zip(record.rows, record.children, strict=True):
                rows_by_table: dict[str, dict] = {name: {} for name in tables}
                for column, value in cells.items():
                    target = targets[column]
                    if target.key is None:
                        rows_by_table[target.field][target.child] = self._value(
                            entity, target, value
                        )
                for (name, child), (ref, columns) in by_ref.items():
                    if child is not None:
                        rows_by_table[name][child] = self._find(
                            lookups, ref, columns, record, cells, number, False
                        )
                for name, row in rows_by_table.items():
                    record.data[name].append(row)

    def _find(
        self,
        lookups: Lookups,
        ref: Field,
        columns: list[Column],
        record: Record,
        cells: Mapping[str, str],
        row: int,
        create: bool,
    ) -> int | None:
        """The id of the record ``ref``'s columns name in ``cells``; a record to create
        is kept aside (the record's ``missing``), problems with the record's."""
        found, problems = lookups.find(
            self.records.apps.entity(ref.target), columns, cells, row, create
        )
        record.problems += problems
        if isinstance(found, Missing):
            record.missing[ref.name] = found
            return None
        return found

    def _value(self, entity: Entity, target: Target, text: str):
        if text == "":
            return None
        fld = _field_of(entity, target, self.records.apps)
        return self.records.types[fld.type].parse_text(fld, text)

    def _skip_existing(
        self,
        user: User,
        entity: Entity,
        targets: dict[str, Target],
        options: Options,
        batch: list[Record],
        report: ImportReport,
    ) -> list[Record]:
        """Records already there by a unique key (a field, or a combination) are counted
        and left alone."""
        direct = {t.field for t in targets.values() if t.child is None and t.key is None}
        direct |= set(options.constants)
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
        batch: list[Record],
        targets: dict[str, Target],
        then: str | None,
        dry_run: bool,
        report: ImportReport,
        committed: Committed | None,
        made: dict[tuple, int],
    ) -> None:
        """One batch in one transaction, each record in its savepoint with the refs it
        creates; ``made`` (the refs created by batches that committed) grows with those
        this one created once it commits."""

        def work(conn: Connection) -> tuple[ImportReport, dict[tuple, int]]:
            created, errors, now_made = 0, [], dict(made)
            for record in batch:
                try:
                    with conn.begin_nested():
                        data, new = self._with_refs(conn, user, record, now_made)
                        done = self.records.create_in(conn, user, entity, data)
                        if then is not None:
                            self.transitions.take_in(conn, user, entity, then, done["id"])
                    created += 1
                    now_made.update(new)
                except AppLoomError as exc:
                    errors += errors_at(record, targets, exc)
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
            return after, now_made

        try:
            after, now_made = self.records.transaction(work)
            made.update(now_made)
        except _RolledBack as rolled_back:
            after = rolled_back.report
        for name in ("created", "errors", "done", "after_row"):
            setattr(report, name, getattr(after, name))

    def _with_refs(
        self, conn: Connection, user: User, record: Record, made: dict[tuple, int]
    ) -> tuple[dict, dict[tuple, int]]:
        """The record's data with the refs it names that were missing: created, or
        taken from an earlier row of the file that created them."""
        data, new = dict(record.data), {}
        for name, missing in record.missing.items():
            if missing.known_by in made:
                data[name] = made[missing.known_by]
                continue
            try:
                data[name] = self.records.create_in(conn, user, missing.entity, missing.values)[
                    "id"
                ]
            except ValidationFailed as exc:
                raise ValidationFailed(
                    {f"{name}.{key}": message for key, message in exc.fields.items()}
                ) from None
            new[missing.known_by] = data[name]
        return data, new


class _RolledBack(Exception):
    """Ends a dry run's batch: its transaction rolls back; ``report`` is what it did."""

    def __init__(self, report: ImportReport):
        self.report = report


def _visible(query, row_filter):
    return query if row_filter is None else query.where(row_filter)


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
