"""What every field type is: the FieldType base that built-in and plugin types extend,
the refusal of a value (Invalid), and the integers that numbers and ids share."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any, Mapping

from sqlalchemy import ColumnElement, ForeignKey
from sqlalchemy.types import TypeEngine

from apploom.engine.definitions.model import Field
from apploom.engine.messages import message_of, msg


class Invalid(ValueError):
    """A single value was refused; the message (a Message, best) is meant for the person
    who typed it."""

    @property
    def message(self) -> str:
        return message_of(self)


COMMON_SETTINGS = frozenset(
    {
        "type",
        "label",
        "help",
        "required",
        "readonly",
        "visible_if",
        "required_if",
        "readonly_if",
        "default",
        "index",
        "unique",
        "formula",
        "returns",
        "locks",
        "default_from",
        "editable_by",
        "fill",
    }
)
TEXT_OPS = (
    "eq",
    "ne",
    "in",
    "not_in",
    "contains",
    "startswith",
    "is_null",
    "lt",
    "lte",
    "gt",
    "gte",
)
ORDERED_OPS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "between", "is_null")
EQUALITY_OPS = ("eq", "ne", "in", "not_in", "is_null")
# a day's age, today - the day, in whole days: older_than_days: 30 is more than 30 days ago
AGE_OPS = ("older_than_days", "not_older_than_days")
DATED_OPS = ORDERED_OPS + AGE_OPS


class FieldType:
    """Base of every field type. Subclasses override what differs.

    The engine and the screens ask the type, never its name, so a plugin's type (a
    subclass of a built-in one, or of this) behaves like a built-in one. A field holds
    child rows when it has ``of`` (``Field.holds_rows``), which only TableType takes.
    """

    name = ""
    settings: frozenset[str] = frozenset()  # type-specific definition settings
    ops: tuple[str, ...] = EQUALITY_OPS  # query operators this type supports
    has_column = True
    numbered = False  # the system numbers it from its series
    searchable = False  # usable in full-text search
    sortable = True  # its column has an order
    indexable = True  # a B-tree index fits its values
    numeric = False  # a number, summed in panels and reports
    dated = False  # falls on a day: groups by week, month...
    timed = False  # a moment (in UTC), not only a day
    has_options = False  # its values are chosen from ``options``
    holds_list = False  # a value is a list (of options)
    is_reference = False  # ids of records of the entity ``to``
    is_user = False  # ids of users
    holds_file = False  # ids of uploaded files
    import_key = False  # unique ones find a ref's record on import
    finds_record = False  # finds a ref's record on import though not unique (a phone)
    names_record = False  # the first such field titles a record
    barcode = False  # record pages show its value as a Code 128 barcode too
    text_only = False  # people send it as a string; a JSON number is refused
    dynamic_defaults: tuple[str, ...] = ()  # defaults resolved on each new record
    widget = "input"  # the form control (records/_inputs.html)
    input_type = "text"  # an "input" widget's HTML type
    input_mode: str | None = None  # its inputmode (the keyboard phones show)

    def column_type(self, field: Field) -> TypeEngine:
        raise NotImplementedError

    def foreign_key(self, field: Field) -> ForeignKey | None:
        return None

    def storage_key(self, field: Field) -> tuple:
        """What the column looks like; two fields with equal keys need no migration."""
        return (self.name,)

    def coerce(self, field: Field, value: Any) -> Any:
        """Turn form or JSON input (never None or '') into the stored Python value."""
        return value

    def from_formula(self, field: Field, result: Any) -> Any:
        """The stored value for a formula's result (rounded where the type needs it)."""
        return self.coerce(field, result)

    def check(self, field: Field, value: Any) -> None:
        """Range, length, pattern and option checks on a coerced value."""

    def dump(self, field: Field, value: Any) -> Any:
        """The JSON form of a stored value."""
        return value

    def json_schema(self, field: Field) -> dict:
        return {}

    def definition_problems(self, field: Field) -> list[tuple[str, str]]:
        """(setting, message) pairs for settings that make no sense for this type."""
        return []

    def scale(self, field: Field) -> int:
        """The decimal places its values keep."""
        return 0

    def default(self, field: Field, user_id: int | None, now: datetime) -> Any:
        """The raw default of a new record's value (still to be coerced)."""
        return field.default

    def lookup_text(self, text: str) -> str:
        """A cell as an import compares it with stored values (see ``lookup_column``)."""
        return text

    def lookup_column(self, column: ColumnElement) -> ColumnElement:
        """The stored value as an import compares it: Email ignores case, say."""
        return column

    def parse_text(self, field: Field, text: str) -> Any:
        """The input for text typed in a spreadsheet cell (never empty); coerce does the rest."""
        return text

    def display(self, field: Field, value: Any, lang: str, titles: Mapping[int, str]) -> str:
        """The text people read for a stored value in its JSON form (never None or []);
        ``titles`` are those of the records or users an id field points at."""
        return str(value)


MAX_INT = 2**63 - 1  # the range of a BIGINT column
# "2.0" too: JSON Schema counts it an integer, and a query string writes one so
ASCII_INT = re.compile(r"\s*([-+]?[0-9]{1,19})(?:\.0*)?\s*")


def reject_bool(value: Any, what: str) -> None:
    if isinstance(value, bool):
        raise Invalid(msg("must be {what}, not true/false", what=what))


def parse_int(value: Any) -> int | None:
    """An int from an int, an integral number or ASCII digits within BIGINT range, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (Decimal, float)):
        number = Decimal(value)
        whole = number.is_finite() and number.adjusted() < 19 and number == number.to_integral()
        value = int(number) if whole else None
    elif isinstance(value, str):
        match = ASCII_INT.fullmatch(value)
        value = int(match.group(1)) if match else None
    if isinstance(value, int) and -MAX_INT <= value <= MAX_INT:
        return value
    return None


class RangedType(FieldType):
    """Types with min/max."""

    ops: tuple[str, ...] = ORDERED_OPS

    def check(self, field, value):
        if field.min is not None and value < self.coerce(field, field.min):
            raise Invalid(msg("must be at least {min}", min=field.min))
        if field.max is not None and value > self.coerce(field, field.max):
            raise Invalid(msg("must be at most {max}", max=field.max))
