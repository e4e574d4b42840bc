"""How a file lays its records out: where each column goes, which rows make one record
(an order's later rows continue it, as shops' exports write them), and at which row and
column an error of a record is."""

from __future__ import annotations

from dataclasses import dataclass, field

from apploom.engine.definitions.model import Entity
from apploom.engine.errors import AppLoomError, ValidationFailed
from apploom.engine.imports.lookups import Missing
from apploom.engine.messages import message_of, msg


@dataclass(frozen=True)
class Target:
    """Where a column goes: ``field``, ``table.field`` (child rows), each optionally
    ``.key`` for a ref found by one of its target's keys (or a new one's name)."""

    field: str
    child: str | None = None
    key: str | None = None

    @property
    def path(self) -> str:
        return ".".join(p for p in (self.field, self.child, self.key) if p)


@dataclass
class Record:
    """The rows of one record to import, and what they turn into."""

    rows: list[int]  # row numbers in the file (header is 1)
    values: dict[str, str]
    children: list[dict[str, str]]  # one per row: its child targets' cells
    data: dict = field(default_factory=dict)
    problems: list[dict] = field(default_factory=list)
    missing: dict[str, Missing] = field(default_factory=dict)  # ref field -> to create


def group(
    entity: Entity, targets: dict[str, Target], header: list[str], rows: list[list[str]]
) -> list[Record]:
    """Rows into records. With child rows mapped, a row continues the record above when
    its key cells (external_id, say) are blank or the same as that record's and its
    other record cells are blank or agree: the second and later lines of an order, as
    shops' exports write them."""
    index = {column: header.index(column) for column in targets}
    own = [c for c, t in targets.items() if t.child is None]
    child = [c for c, t in targets.items() if t.child is not None]
    keys = _key_columns(entity, targets)
    found: list[Record] = []
    for number, row in enumerate(rows, start=2):
        values = {c: _cell(row, index[c]) for c in own}
        above = found[-1] if child and found else None
        if above is not None and _continues(above, values, keys):
            above.problems += _disagreements(above, values, number)
            for column, text in values.items():
                above.values[column] = above.values[column] or text
            record = above
        else:
            record = Record([], values, [])
            found.append(record)
        record.rows.append(number)
        record.children.append({c: _cell(row, index[c]) for c in child})
    return found


def errors_at(record: Record, targets: dict[str, Target], exc: AppLoomError) -> list[dict]:
    """The error of one record, per field, at the row and column it came from."""
    if not isinstance(exc, ValidationFailed):
        return [{"row": record.rows[0], "column": None, "message": message_of(exc)}]
    by_path = {t.path.removesuffix(f".{t.key}") if t.key else t.path: c for c, t in targets.items()}
    exact = {t.path: c for c, t in targets.items()}
    found = []
    for key, message in exc.fields.items():
        parts = key.split(".")
        column: str | None
        if key in exact:  # customer.name: a new customer's
            row, column = record.rows[0], exact[key]
        elif len(parts) >= 3 and parts[1].isdigit():  # lines.2.qty: the third child row
            row = record.rows[min(int(parts[1]), len(record.rows) - 1)]
            column = by_path.get(f"{parts[0]}.{parts[2]}")
        else:
            row, column = record.rows[0], by_path.get(parts[0])
        if column is None:
            message = msg("{field}: {message}", field=key, message=message)
        found.append({"row": row, "column": column, "message": message})
    return found


def _key_columns(entity: Entity, targets: dict[str, Target]) -> list[str]:
    """The record's own columns that hold a unique key's fields (its external id)."""
    keyed = {n for names in entity.unique for n in names}
    keyed |= {f.name for f in entity.fields.values() if f.unique}
    return [c for c, t in targets.items() if t.child is None and t.key is None and t.field in keyed]


def _continues(above: Record, values: dict[str, str], keys: list[str]) -> bool:
    """Whether a row with these record cells is another row of the record above."""
    if any(values[c] for c in keys):
        return all(values[c] in ("", above.values[c]) for c in keys)
    return all(text in ("", above.values[c]) for c, text in values.items())


def _disagreements(above: Record, values: dict[str, str], row: int) -> list[dict]:
    """A later row of a record that gives one of its cells another value: which wins
    cannot be guessed."""
    return [
        {
            "row": row,
            "column": column,
            "message": msg(
                "is '{here}' here but '{there}' in row {row} of the same record",
                here=text,
                there=above.values[column],
                row=above.rows[0],
            ),
        }
        for column, text in values.items()
        if text and above.values[column] and text != above.values[column]
    ]


def _cell(row: list[str], column: int) -> str:
    """A cell's text; rows are not padded to the header, so a missing cell is empty."""
    return row[column].strip() if column < len(row) else ""
