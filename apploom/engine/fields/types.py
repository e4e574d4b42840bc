"""Field types: how a value is coerced, checked, stored, dumped and described.

Types live in a registry so plugins can add their own; nothing downstream
switches on a type's name.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Mapping
from urllib.parse import urlsplit

import nh3
from sqlalchemy import JSON, BigInteger, Boolean, Date, ForeignKey, Integer, String, Text
from sqlalchemy.types import TypeEngine

from apploom.engine.definitions.model import Field, Label
from apploom.engine.records.naming import format_problems
from apploom.engine.storage.column_types import ExactDecimal, UTCDateTime


class Invalid(ValueError):
    """A single value was refused; the message is meant for the person who typed it."""


COMMON_SETTINGS = frozenset({"type", "label", "help", "required", "readonly", "default",
                             "index", "unique", "formula", "returns"})
TEXT_OPS = ("eq", "ne", "in", "not_in", "contains", "startswith", "is_null", "lt", "lte",
            "gt", "gte")
ORDERED_OPS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "between", "is_null")
EQUALITY_OPS = ("eq", "ne", "in", "not_in", "is_null")


class FieldType:
    """Base of every field type. Subclasses override what differs.

    The engine and the screens ask the type, never its name, so a plugin's type (a
    subclass of a built-in one, or of this) behaves like a built-in one. A field holds
    child rows when it has ``of`` (``Field.holds_rows``), which only TableType takes.
    """

    name = ""
    settings: frozenset[str] = frozenset()      # type-specific definition settings
    ops: tuple[str, ...] = EQUALITY_OPS          # query operators this type supports
    has_column = True
    numbered = False                             # the system numbers it from its series
    searchable = False                           # usable in full-text search
    sortable = True                              # its column has an order
    indexable = True                             # a B-tree index fits its values
    numeric = False                              # a number, summed in panels and reports
    dated = False                                # falls on a day: groups by week, month...
    timed = False                                # a moment (in UTC), not only a day
    has_options = False                          # its values are chosen from ``options``
    holds_list = False                           # a value is a list (of options)
    is_reference = False                         # ids of records of the entity ``to``
    is_user = False                              # ids of users
    holds_file = False                           # ids of uploaded files
    import_key = False                           # unique ones find a ref's record on import
    names_record = False                         # the first such field titles a record
    dynamic_defaults: tuple[str, ...] = ()       # defaults resolved on each new record
    widget = "input"                             # the form control (records/_inputs.html)
    input_type = "text"                          # an "input" widget's HTML type
    input_mode: str | None = None                # its inputmode (the keyboard phones show)

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

    def parse_text(self, field: Field, text: str) -> Any:
        """The input for text typed in a spreadsheet cell (never empty); coerce does the rest."""
        return text

    def display(self, field: Field, value: Any, lang: str, titles: Mapping[int, str]) -> str:
        """The text people read for a stored value in its JSON form (never None or []);
        ``titles`` are those of the records or users an id field points at."""
        return str(value)


MAX_INT = 2 ** 63 - 1  # the range of a BIGINT column
ASCII_INT = re.compile(r"\s*([-+]?[0-9]{1,19})\s*")


def _reject_bool(value: Any, what: str) -> None:
    if isinstance(value, bool):
        raise Invalid(f"must be {what}, not true/false")


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


class TextType(FieldType):
    name = "text"
    settings = frozenset({"length", "pattern"})
    ops = TEXT_OPS
    searchable = True
    import_key = True
    names_record = True
    default_length = 255

    def length(self, field: Field) -> int:
        return field.length or self.default_length

    def column_type(self, field):
        return String(self.length(field))

    def storage_key(self, field):
        return ("text", self.length(field))

    def coerce(self, field, value):
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise Invalid("must be text")
        if "\x00" in value:
            raise Invalid("must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise Invalid("is not valid Unicode text") from None
        return value

    def check(self, field, value):
        limit = self.length(field)
        if len(value) > limit:
            raise Invalid(f"is {len(value)} characters long; at most {limit} are allowed")
        if field.pattern and not re.fullmatch(field.pattern, value):
            raise Invalid(f"does not match the expected format ({field.pattern})")

    def json_schema(self, field):
        schema = {"type": "string", "maxLength": self.length(field)}
        if field.pattern:
            schema["pattern"] = f"^(?:{field.pattern})$"
        return schema


class LongTextType(TextType):
    name = "long_text"
    default_length = 100_000
    indexable = False
    import_key = False
    names_record = False
    widget = "textarea"

    def column_type(self, field):
        return Text()

    def storage_key(self, field):
        return ("long_text",)


class RichTextType(LongTextType):
    """HTML from a rich editor, sanitised on the way in so it is safe to show."""

    name = "rich_text"
    settings = frozenset({"length"})

    def coerce(self, field, value):
        return nh3.clean(super().coerce(field, value))

    def json_schema(self, field):
        return {"type": "string", "contentMediaType": "text/html"}


class _PatternText(TextType):
    """Text with a fixed shape (email, phone, url)."""

    settings = frozenset()
    names_record = False
    expected = ""

    def valid(self, value: str) -> bool:
        raise NotImplementedError

    def coerce(self, field, value):
        value = super().coerce(field, value).strip()
        if not self.valid(value):
            raise Invalid(f"is not a valid {self.expected}")
        return value


class EmailType(_PatternText):
    name = "email"
    default_length = 254
    input_type = "email"
    expected = "email address"
    _shape = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

    def valid(self, value):
        return bool(self._shape.fullmatch(value))

    def json_schema(self, field):
        return {"type": "string", "format": "email", "maxLength": 254}


class PhoneType(_PatternText):
    name = "phone"
    default_length = 32
    input_type = "tel"
    expected = "phone number (digits, spaces, + - ( ) only)"
    _shape = re.compile(r"\+?[0-9][0-9 ()\-.]{3,30}")

    def valid(self, value):
        return bool(self._shape.fullmatch(value))


class UrlType(_PatternText):
    name = "url"
    default_length = 2048
    import_key = False
    input_type = "url"
    expected = "web address (starting with http:// or https://)"

    def valid(self, value):
        parts = urlsplit(value)
        return parts.scheme in ("http", "https") and bool(parts.netloc)

    def json_schema(self, field):
        return {"type": "string", "format": "uri", "maxLength": 2048}


class _Ranged(FieldType):
    """Types with min/max."""

    ops = ORDERED_OPS

    def check(self, field, value):
        if field.min is not None and value < self.coerce(field, field.min):
            raise Invalid(f"must be at least {field.min}")
        if field.max is not None and value > self.coerce(field, field.max):
            raise Invalid(f"must be at most {field.max}")


class IntegerType(_Ranged):
    name = "integer"
    settings = frozenset({"min", "max"})
    numeric = True
    input_type = "number"

    def column_type(self, field):
        return BigInteger().with_variant(Integer(), "sqlite")

    def coerce(self, field, value):
        _reject_bool(value, "a whole number")
        number = parse_int(value)
        if number is None:
            raise Invalid("must be a whole number (at most 19 digits)")
        return number

    def from_formula(self, field, result):
        if isinstance(result, Decimal):
            result = int(result.to_integral_value(ROUND_HALF_UP))
        return self.coerce(field, result)

    def json_schema(self, field):
        return {"type": "integer", **_bounds(field)}


THOUSANDS = re.compile(r"-?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?")


class DecimalType(_Ranged):
    name = "decimal"
    settings = frozenset({"min", "max", "scale", "precision"})
    numeric = True
    input_mode = "decimal"
    default_scale = 4
    default_precision = 18

    def scale(self, field: Field) -> int:
        return field.scale if field.scale is not None else self.default_scale

    def precision(self, field: Field) -> int:
        return field.precision or self.default_precision

    def column_type(self, field):
        return ExactDecimal(self.precision(field), self.scale(field))

    def storage_key(self, field):
        return ("decimal", self.precision(field), self.scale(field))

    def coerce(self, field, value):
        _reject_bool(value, "a number")
        if isinstance(value, float):
            value = repr(value)
        if isinstance(value, str):
            value = value.strip()
            if THOUSANDS.fullmatch(value):
                value = value.replace(",", "")
        try:
            number = Decimal(value)
        except (InvalidOperation, TypeError, ValueError):
            raise Invalid("must be a number") from None
        if not number.is_finite():
            raise Invalid("must be a number")
        scale = self.scale(field)
        if number.adjusted() >= self.precision(field) - scale:
            raise Invalid("is too large")
        if number.as_tuple().exponent < -scale and number != number.quantize(_quantum(scale)):
            raise Invalid(f"may have at most {scale} decimal places")
        return number.quantize(_quantum(scale))

    def from_formula(self, field, result):
        if isinstance(result, (int, Decimal)) and not isinstance(result, bool):
            result = Decimal(result).quantize(_quantum(self.scale(field)), ROUND_HALF_UP)
        return self.coerce(field, result)

    def dump(self, field, value):
        return None if value is None else str(value)

    def json_schema(self, field):
        return {"type": "string", "format": "decimal",
                "pattern": rf"^-?\d+(\.\d{{1,{self.scale(field)}}})?$",
                "description": "A decimal number sent as a string (a JSON number is accepted too)."}


class MoneyType(DecimalType):
    name = "money"
    default_scale = 2

    def display(self, field, value, lang, titles):
        return f"{Decimal(value):,.2f}"


class PercentType(DecimalType):
    """A percentage stored as the number shown (12.5 means 12.5 %)."""

    name = "percent"
    default_scale = 2
    default_precision = 9

    def display(self, field, value, lang, titles):
        return f"{value} %"


class BooleanType(FieldType):
    name = "boolean"
    widget = "switch"
    _true = {"true", "1", "yes", "on", "y", "是"}
    _false = {"false", "0", "no", "off", "n", "否"}
    _words = {True: Label("Yes", "是"), False: Label("No", "否")}

    def column_type(self, field):
        return Boolean()

    def coerce(self, field, value):
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str):
            word = value.strip().lower()
            if word in self._true:
                return True
            if word in self._false:
                return False
        raise Invalid("must be true or false")

    def json_schema(self, field):
        return {"type": "boolean"}

    def display(self, field, value, lang, titles):
        return self._words[bool(value)].get(lang)


class DateType(_Ranged):
    name = "date"
    settings = frozenset({"min", "max"})
    dated = True
    dynamic_defaults = ("today",)
    input_type = "date"

    def column_type(self, field):
        return Date()

    def coerce(self, field, value):
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                pass
        raise Invalid("must be a date like 2026-01-31")

    def dump(self, field, value):
        return None if value is None else value.isoformat()

    def json_schema(self, field):
        return {"type": "string", "format": "date"}

    def default(self, field, user_id, now):
        return now.astimezone(timezone.utc).date() if field.default == "today" else field.default


class DateTimeType(_Ranged):
    name = "datetime"
    settings = frozenset({"min", "max"})
    dated = True
    timed = True
    dynamic_defaults = ("now",)
    input_type = "datetime-local"

    def column_type(self, field):
        return UTCDateTime()

    def coerce(self, field, value):
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError:
                raise Invalid("must be a date and time like 2026-01-31T14:30:00Z") from None
        if not isinstance(value, datetime):
            raise Invalid("must be a date and time like 2026-01-31T14:30:00Z")
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        try:
            return value.astimezone(timezone.utc)
        except OverflowError:
            raise Invalid("is out of range") from None

    def dump(self, field, value):
        return None if value is None else value.isoformat().replace("+00:00", "Z")

    def json_schema(self, field):
        return {"type": "string", "format": "date-time"}

    def default(self, field, user_id, now):
        return now if field.default == "now" else field.default

    def display(self, field, value, lang, titles):
        return value.replace("T", " ")[:16]


CELL_LIST = re.compile(r"[,，;；]")   # what separates the options in one cell


def plain(text: str) -> str:
    """Text as compared loosely: without spaces, _ - · › ( ) / and case."""
    return re.sub(r"[\s_\-·›()（）/]+", "", text).lower()


class SelectType(FieldType):
    name = "select"
    settings = frozenset({"options"})
    has_options = True
    widget = "select"

    def column_type(self, field):
        return String(64)

    def storage_key(self, field):
        return ("select",)

    def coerce(self, field, value):
        if not isinstance(value, str):
            raise Invalid("must be one of: " + ", ".join(field.option_values))
        return value.strip()

    def check(self, field, value):
        if value not in field.option_values:
            raise Invalid(f"'{value}' is not an option; choose one of: "
                          + ", ".join(field.option_values))

    def json_schema(self, field):
        return {"type": "string", "enum": list(field.option_values)}

    def definition_problems(self, field):
        if not field.options:
            return [("options", f"a {self.name} field needs a list of options")]
        return []

    def parse_text(self, field, text):
        return self._option(field, text)

    def display(self, field, value, lang, titles):
        labels = {o.value: o.label.get(lang) for o in field.options}
        return ", ".join(labels.get(v, v) for v in (value if isinstance(value, list) else [value]))

    @staticmethod
    def _option(field: Field, text: str) -> str:
        """The option a cell means, by its value or its label in any language."""
        labels = {plain(v): o.value for o in field.options
                  for v in (o.value, o.label.en, o.label.zh) if v}
        return labels.get(plain(text), text)


class MultiSelectType(SelectType):
    name = "multiselect"
    ops = ("contains", "is_null")
    sortable = False
    indexable = False
    holds_list = True
    widget = "chips"

    def column_type(self, field):
        return JSON()

    def storage_key(self, field):
        return ("multiselect",)

    def coerce(self, field, value):
        if isinstance(value, str):
            value = [part for part in (p.strip() for p in value.split(",")) if part]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise Invalid("must be a list of options")
        return list(dict.fromkeys(value))

    def check(self, field, value):
        for item in value:
            super().check(field, item)

    def json_schema(self, field):
        return {"type": "array", "items": {"type": "string", "enum": list(field.option_values)},
                "uniqueItems": True}

    def parse_text(self, field, text):
        return [self._option(field, p) for p in (p.strip() for p in CELL_LIST.split(text)) if p]


class _IdType(FieldType):
    """Integer ids of other rows."""

    def column_type(self, field):
        return BigInteger().with_variant(Integer(), "sqlite")

    def coerce(self, field, value):
        _reject_bool(value, "an id")
        if isinstance(value, dict) and "id" in value:
            value = value["id"]
        number = parse_int(value)
        if number is None or number < 1:
            raise Invalid("must be the id of a record")
        return number

    def json_schema(self, field):
        return {"type": "integer", "minimum": 1}

    def display(self, field, value, lang, titles):
        return titles.get(parse_int(value), f"#{value}")


class RefType(_IdType):
    """A reference to a record of any entity in any app, stored as a foreign key."""

    name = "ref"
    settings = frozenset({"to", "related"})
    is_reference = True
    widget = "ref"

    def storage_key(self, field):
        return ("ref", field.to)

    def foreign_key(self, field):
        return ForeignKey(field.to.replace(".", "_") + ".id")

    def json_schema(self, field):
        return {"type": "integer", "minimum": 1, "description": f"Id of a {field.to} record."}

    def definition_problems(self, field):
        return [] if field.to else [("to", "a ref field needs 'to': the entity it points at")]


class UserType(_IdType):
    name = "user"
    is_user = True
    dynamic_defaults = ("me",)

    def foreign_key(self, field):
        return ForeignKey("sys_user.id")

    def default(self, field, user_id, now):
        return user_id if field.default == "me" else field.default


class TableType(FieldType):
    """Child rows stored in their own table; the record service handles them."""

    name = "table"
    settings = frozenset({"of", "min_rows", "max_rows"})
    has_column = False
    ops = ()

    def storage_key(self, field):
        return ("table", field.of)

    def json_schema(self, field):
        child_schema = "#/components/schemas/" + field.of.replace(".", "_")
        schema: dict[str, Any] = {"type": "array", "items": {"$ref": child_schema}}
        if field.min_rows:
            schema["minItems"] = field.min_rows
        if field.max_rows is not None:
            schema["maxItems"] = field.max_rows
        return schema

    def definition_problems(self, field):
        return [] if field.of else [("of", "a table field needs 'of': the entity of its rows")]


class AttachmentType(FieldType):
    """A file stored under the instance folder; the column holds its id."""

    name = "attachment"
    settings = frozenset({"max_size"})
    holds_file = True
    widget = "file"
    _id = re.compile(r"[0-9a-f]{32}")

    def column_type(self, field):
        return String(32)

    def coerce(self, field, value):
        if isinstance(value, dict):
            value = value.get("id")
        if isinstance(value, str) and self._id.fullmatch(value):
            return value
        raise Invalid("must be the id of an uploaded file")

    def json_schema(self, field):
        return {"type": "string", "description": "Id returned by POST /api/v1/attachments."}


class AutoNumberType(FieldType):
    """A human number from a naming series, e.g. SO-202611-00042."""

    name = "autonumber"
    settings = frozenset({"format"})
    ops = TEXT_OPS
    numbered = True
    searchable = True
    import_key = True

    def column_type(self, field):
        return String(64)

    def json_schema(self, field):
        return {"type": "string", "readOnly": True}

    def definition_problems(self, field):
        if not field.format:
            return [("format", "an autonumber field needs a 'format' such as "
                               "'SO-{YYYY}{MM}-{#####}'")]
        if "format" not in field.settings:   # made from the entity's naming, checked there
            return []
        return [("format", f"'{field.format}' {message}")
                for message in format_problems(field.format)]


def _quantum(scale: int) -> Decimal:
    return Decimal(1).scaleb(-scale)


def _bounds(field: Field) -> dict:
    bounds = {}
    if field.min is not None:
        bounds["minimum"] = field.min
    if field.max is not None:
        bounds["maximum"] = field.max
    return bounds


BUILTIN_TYPES = (TextType, LongTextType, RichTextType, IntegerType, DecimalType, MoneyType,
                 PercentType, BooleanType, DateType, DateTimeType, SelectType, MultiSelectType,
                 EmailType, PhoneType, UrlType, RefType, TableType, UserType, AttachmentType,
                 AutoNumberType)
# Types a formula may produce.
FORMULA_RESULTS = ("text", "integer", "decimal", "money", "percent", "boolean", "date")


class FieldTypes:
    """The registry of field types known to one running engine, and of the functions
    plugins add for expressions (``functions``), which definitions are checked against."""

    def __init__(self, types: tuple[type[FieldType], ...] = BUILTIN_TYPES):
        self.functions: dict[str, Any] = {}
        self._types: dict[str, FieldType] = {}
        for cls in types:
            self.register(cls())

    def register(self, field_type: FieldType) -> None:
        if not field_type.name or field_type.name in self._types:
            raise ValueError(f"field type name {field_type.name!r} is empty or already taken")
        self._types[field_type.name] = field_type

    def __getitem__(self, name: str) -> FieldType:
        return self._types[name]

    def __contains__(self, name: str) -> bool:
        return name in self._types

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._types))

    def computed(self, field: Field) -> bool:
        """Whether the system fills the field in (a formula, a number), never a person."""
        return field.formula is not None or self[field.type].numbered
