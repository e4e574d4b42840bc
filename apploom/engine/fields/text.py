"""Text types: plain, long and rich text, emails, phones, web addresses, and the
numbers a naming series gives."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import nh3
import re2
from sqlalchemy import String, Text, func

from apploom.engine.definitions.model import Field
from apploom.engine.fields.base import TEXT_OPS, FieldType, Invalid
from apploom.engine.messages import msg
from apploom.engine.records.naming import format_problems

# A NUL character is refused (a database cannot store it in text); as `not`, since
# a pattern for it makes generating valid strings slow.
NO_NUL = {"not": {"type": "string", "pattern": "\\u0000"}}


class TextType(FieldType):
    name = "text"
    settings = frozenset({"length", "pattern"})
    ops = TEXT_OPS
    searchable = True
    import_key = True
    names_record = True
    text_only = True
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
            raise Invalid(msg("must be text"))
        if "\x00" in value:
            raise Invalid(msg("must not contain NUL characters"))
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise Invalid(msg("is not valid Unicode text")) from None
        return value

    def check(self, field, value):
        limit = self.length(field)
        if len(value) > limit:
            raise Invalid(
                msg(
                    "is {length} characters long; at most {limit} are allowed",
                    length=len(value),
                    limit=limit,
                )
            )
        if field.pattern and not compiled_pattern(field.pattern).fullmatch(value):
            raise Invalid(
                msg("does not match the expected format ({pattern})", pattern=field.pattern)
            )

    def json_schema(self, field):
        schema = {"type": "string", "maxLength": self.length(field), **NO_NUL}
        if field.pattern:
            schema["pattern"] = f"^(?:{field.pattern})$"
        return schema


_RE2 = re2.Options()
_RE2.log_errors = False


@lru_cache(maxsize=1024)
def compiled_pattern(pattern: str) -> Any:
    """A field's pattern compiled by RE2, which matches in time linear in the text, so no
    pattern (``(a+)+``) can backtrack for seconds; raises re2.error if RE2 refuses it."""
    return re2.compile(pattern, _RE2)


def pattern_problem(pattern: str) -> str | None:
    """Why RE2 refuses ``pattern`` (backreferences, lookarounds, huge repeats), or None."""
    try:
        compiled_pattern(pattern)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        return msg(
            "is not a valid pattern: {reason} (patterns are RE2 expressions, matched in linear "
            "time: no backreferences or lookarounds)",
            reason=str(reason),
        )
    return None


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
        return {"type": "string", "contentMediaType": "text/html", **NO_NUL}


class _PatternText(TextType):
    """Text with a fixed shape (email, phone, url)."""

    settings = frozenset()
    names_record = False
    expected: str = ""

    def valid(self, value: str) -> bool:
        raise NotImplementedError

    def coerce(self, field, value):
        value = super().coerce(field, value).strip()
        if not self.valid(value):
            raise Invalid(msg("is not a valid {expected}", expected=self.expected))
        return value


class EmailType(_PatternText):
    name = "email"
    default_length = 254
    input_type = "email"
    expected = msg("email address")
    finds_record = True
    _shape = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

    def valid(self, value):
        return bool(self._shape.fullmatch(value))

    def lookup_text(self, text):
        return text.strip().lower()

    def lookup_column(self, column):
        return func.lower(column)

    def json_schema(self, field):
        return {
            "type": "string",
            "format": "email",
            "pattern": f"^{self._shape.pattern}$",
            "maxLength": 254,
        }


class PhoneType(_PatternText):
    name = "phone"
    default_length = 32
    input_type = "tel"
    expected = msg("phone number (digits, spaces, + - ( ) only)")
    finds_record = True
    _shape = re.compile(r"\+?[0-9(][0-9 ()\-.]{3,30}")
    _spacing = " ()-."  # 139 0000-1111 and 13900001111 are one number

    def valid(self, value):
        return bool(self._shape.fullmatch(value))

    def lookup_text(self, text):
        return text.strip().translate({ord(c): None for c in self._spacing})

    def lookup_column(self, column):
        for mark in self._spacing:
            column = func.replace(column, mark, "")
        return column

    def json_schema(self, field):
        # as stored: no space at either end
        return {"type": "string", "pattern": r"^\+?[0-9(][0-9 ()\-.]{2,29}[0-9()\-.]$"}


class BarcodeType(TextType):
    """A code printed as bars (an item's EAN or its own code): printable ASCII, which is
    what Code 128 holds and a scanner types; record pages show its barcode."""

    name = "barcode"
    settings = frozenset({"length"})
    names_record = False
    barcode = True
    default_length = 80

    def coerce(self, field, value):
        value = super().coerce(field, value).strip()
        if not (value.isascii() and value.isprintable()):
            raise Invalid(msg("must be letters, digits and signs a barcode holds (ASCII, no tabs)"))
        return value

    def json_schema(self, field):
        return {"type": "string", "pattern": "^[!-~]([ -~]*[!-~])?$"}


class UrlType(_PatternText):
    name = "url"
    default_length = 2048
    import_key = False
    input_type = "url"
    expected = msg("web address (starting with http:// or https://)")

    def valid(self, value):
        parts = urlsplit(value)
        return parts.scheme in ("http", "https") and bool(parts.netloc)

    def json_schema(self, field):
        return {"type": "string", "format": "uri", "maxLength": 2048}


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
            return [
                (
                    "format",
                    msg(
                        "an autonumber field needs a 'format' such as 'SO-{{YYYY}}{{MM}}-{{#####}}'"
                    ),
                )
            ]
        if "format" not in field.settings:  # made from the entity's naming, checked there
            return []
        return [
            ("format", msg("'{value}' {problem}", value=field.format, problem=message))
            for message in format_problems(field.format)
        ]
