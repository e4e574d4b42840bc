"""Field types: how a value is coerced, checked, stored, dumped and described.

Types live in a registry so plugins can add their own; nothing downstream
switches on a type's name.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import nh3
from sqlalchemy import JSON, BigInteger, Boolean, Date, ForeignKey, Integer, String, Text
from sqlalchemy.types import TypeEngine

from apploom.engine.storage.column_types import ExactDecimal, UTCDateTime

if TYPE_CHECKING:
    from apploom.engine.definitions.model import Field


class Invalid(ValueError):
    """A single value was refused; the message is meant for the person who typed it."""


COMMON_SETTINGS = frozenset({"type", "label", "help", "required", "readonly", "default",
                             "index", "unique", "formula", "returns"})
TEXT_OPS = ("eq", "ne", "in", "not_in", "contains", "startswith", "is_null", "lt", "lte",
            "gt", "gte")
ORDERED_OPS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "between", "is_null")
EQUALITY_OPS = ("eq", "ne", "in", "not_in", "is_null")


class FieldType:
    """Base of every field type. Subclasses override what differs."""

    name = ""
    settings: frozenset[str] = frozenset()      # type-specific definition settings
    ops: tuple[str, ...] = EQUALITY_OPS          # query operators this type supports
    has_column = True
    settable = True                              # False: the system fills it in
    searchable = False                           # usable in full-text search
    sortable = True                              # its column has an order
    indexable = True                             # a B-tree index fits its values

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
    expected = "email address"
    _shape = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

    def valid(self, value):
        return bool(self._shape.fullmatch(value))

    def json_schema(self, field):
        return {"type": "string", "format": "email", "maxLength": 254}


class PhoneType(_PatternText):
    name = "phone"
    default_length = 32
    expected = "phone number (digits, spaces, + - ( ) only)"
    _shape = re.compile(r"\+?[0-9][0-9 ()\-.]{3,30}")

    def valid(self, value):
        return bool(self._shape.fullmatch(value))


class UrlType(_PatternText):
    name = "url"
    default_length = 2048
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


class PercentType(DecimalType):
    """A percentage stored as the number shown (12.5 means 12.5 %)."""

    name = "percent"
    default_scale = 2
    default_precision = 9


class BooleanType(FieldType):
    name = "boolean"
    _true = {"true", "1", "yes", "on", "y", "是"}
    _false = {"false", "0", "no", "off", "n", "否"}

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


class DateType(_Ranged):
    name = "date"
    settings = frozenset({"min", "max"})

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


class DateTimeType(_Ranged):
    name = "datetime"
    settings = frozenset({"min", "max"})

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


class SelectType(FieldType):
    name = "select"
    settings = frozenset({"options"})

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


class MultiSelectType(SelectType):
    name = "multiselect"
    ops = ("contains", "is_null")
    sortable = False
    indexable = False

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


class RefType(_IdType):
    """A reference to a record of any entity in any app, stored as a foreign key."""

    name = "ref"
    settings = frozenset({"to", "related"})

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

    def foreign_key(self, field):
        return ForeignKey("sys_user.id")


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
    settable = False
    searchable = True

    def column_type(self, field):
        return String(64)

    def json_schema(self, field):
        return {"type": "string", "readOnly": True}

    def definition_problems(self, field):
        return [] if field.format else [("format", "an autonumber field needs a 'format' "
                                         "such as 'SO-{YYYY}{MM}-{#####}'")]


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
