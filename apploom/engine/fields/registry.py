"""The field types one running engine knows: the built-in ones and the plugins'."""

from __future__ import annotations

from typing import Any

from apploom.engine.definitions.model import Field
from apploom.engine.fields.base import FieldType
from apploom.engine.fields.choices import BooleanType, MultiSelectType, SelectType
from apploom.engine.fields.dates import DateTimeType, DateType
from apploom.engine.fields.links import AttachmentType, RefType, TableType, UserType
from apploom.engine.fields.numbers import DecimalType, IntegerType, MoneyType, PercentType
from apploom.engine.fields.text import (
    AutoNumberType,
    BarcodeType,
    EmailType,
    LongTextType,
    PhoneType,
    RichTextType,
    TextType,
    UrlType,
)

BUILTIN_TYPES = (
    TextType,
    LongTextType,
    RichTextType,
    IntegerType,
    DecimalType,
    MoneyType,
    PercentType,
    BooleanType,
    DateType,
    DateTimeType,
    SelectType,
    MultiSelectType,
    EmailType,
    PhoneType,
    UrlType,
    RefType,
    TableType,
    UserType,
    AttachmentType,
    AutoNumberType,
    BarcodeType,
)
# Types a formula may produce.
FORMULA_RESULTS = ("text", "integer", "decimal", "money", "percent", "boolean", "date")


class FieldTypes:
    """The registry of field types known to one running engine, and of the functions
    plugins add for expressions (``functions``) and the pullers they add for polled
    channels (``pullers``: kind -> Puller), which definitions are checked against."""

    def __init__(self, types: tuple[type[FieldType], ...] = BUILTIN_TYPES):
        self.functions: dict[str, Any] = {}
        self.pullers: dict[str, Any] = {}
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
