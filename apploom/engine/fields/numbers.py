"""Number types: whole numbers, and decimals exact to their scale (money, percentages)."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from sqlalchemy import BigInteger, Integer

from apploom.engine import formatting
from apploom.engine.definitions.model import Field
from apploom.engine.fields.base import MAX_INT, Invalid, RangedType, parse_int, reject_bool
from apploom.engine.messages import msg
from apploom.engine.storage.column_types import ExactDecimal


class IntegerType(RangedType):
    name = "integer"
    settings = frozenset({"min", "max"})
    numeric = True
    input_type = "number"

    def column_type(self, field):
        return BigInteger().with_variant(Integer(), "sqlite")

    def coerce(self, field, value):
        reject_bool(value, "a whole number")
        number = parse_int(value)
        if number is None:
            raise Invalid(msg("must be a whole number (at most 19 digits)"))
        return number

    def from_formula(self, field, result):
        if isinstance(result, Decimal):
            result = int(result.to_integral_value(ROUND_HALF_UP))
        return self.coerce(field, result)

    def json_schema(self, field):
        return {"type": "integer", "minimum": -MAX_INT, "maximum": MAX_INT, **_bounds(field)}

    def display(self, field, value, lang, titles):
        return formatting.number(value, lang)


THOUSANDS = re.compile(r"-?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?")
# An amount as shops write it: a currency sign or code before or after the number
# (￥1,088.00, ¥1,088, 1,088.00 CNY, $12.50, HK$ 99, -￥5.00, 88元).
AMOUNT = re.compile(
    r"(?P<sign>-)?\s*(?:[A-Z]{3}|[A-Z]{0,2}[$¥￥€£]|RMB)?\s*"
    r"(?P<number>-?[0-9][0-9,]*(?:\.[0-9]+)?)\s*(?:[A-Z]{3}|元|RMB)?"
)


class DecimalType(RangedType):
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
        reject_bool(value, "a number")
        if isinstance(value, float):
            value = repr(value)
        if isinstance(value, str):
            value = value.strip()
            if THOUSANDS.fullmatch(value):
                value = value.replace(",", "")
        try:
            number = Decimal(value)
        except (InvalidOperation, TypeError, ValueError):
            raise Invalid(msg("must be a number")) from None
        if not number.is_finite():
            raise Invalid(msg("must be a number"))
        scale = self.scale(field)
        if number.adjusted() >= self.precision(field) - scale:
            raise Invalid(msg("is too large"))
        if number.as_tuple().exponent < -scale and number != number.quantize(_quantum(scale)):
            raise Invalid(msg("may have at most {scale} decimal places", scale=scale))
        return number.quantize(_quantum(scale))

    def from_formula(self, field, result):
        if isinstance(result, (int, Decimal)) and not isinstance(result, bool):
            result = Decimal(result).quantize(_quantum(self.scale(field)), ROUND_HALF_UP)
        return self.coerce(field, result)

    def parse_text(self, field, text):
        """The number in an amount a shop's file writes with its currency."""
        found = AMOUNT.fullmatch(text.strip())
        if found is None or (found["sign"] and found["number"].startswith("-")):
            return text
        return (found["sign"] or "") + found["number"]

    def dump(self, field, value):
        return None if value is None else str(value)

    def _pattern(self, field: Field) -> str:
        """The digits it keeps, and a sign only if it may be negative."""
        scale = self.scale(field)
        sign = "" if field.min is not None and field.min >= 0 else "-?"
        whole = f"[0-9]{{1,{self.precision(field) - scale}}}"
        return f"^{sign}{whole}" + (f"(\\.[0-9]{{1,{scale}}})?$" if scale else "$")

    def json_schema(self, field):
        return {
            "type": "string",
            "format": "decimal",
            "pattern": self._pattern(field),
            "description": "A decimal number sent as a string (a JSON number is accepted too).",
        }

    def display(self, field, value, lang, titles):
        return formatting.number(value, lang)


class MoneyType(DecimalType):
    name = "money"
    default_scale = 2

    def display(self, field, value, lang, titles):
        return formatting.money(value, lang)


class PercentType(DecimalType):
    """A percentage stored as the number shown (12.5 means 12.5 %)."""

    name = "percent"
    default_scale = 2
    default_precision = 9

    def display(self, field, value, lang, titles):
        return formatting.percent(value, lang)


def _quantum(scale: int) -> Decimal:
    return Decimal(1).scaleb(-scale)


def _bounds(field: Field) -> dict:
    bounds = {}
    if field.min is not None:
        bounds["minimum"] = field.min
    if field.max is not None:
        bounds["maximum"] = field.max
    return bounds
