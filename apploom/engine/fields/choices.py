"""Choices: yes or no, one option, several options."""

from __future__ import annotations

import re

from sqlalchemy import JSON, Boolean, String

from apploom.engine.definitions.model import Field, Label
from apploom.engine.fields.base import FieldType, Invalid
from apploom.engine.messages import msg


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
        raise Invalid(msg("must be true or false"))

    def json_schema(self, field):
        return {"type": "boolean"}

    def display(self, field, value, lang, titles):
        return self._words[bool(value)].get(lang)


CELL_LIST = re.compile(r"[,，;；]")  # what separates the options in one cell


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
            raise Invalid(msg("must be one of: {options}", options=", ".join(field.option_values)))
        return value.strip()

    def check(self, field, value):
        if value not in field.option_values:
            options = ", ".join(field.option_values)
            raise Invalid(
                msg(
                    "'{value}' is not an option; choose one of: {options}",
                    value=value,
                    options=options,
                )
            )

    def json_schema(self, field):
        return {"type": "string", "enum": list(field.option_values)}

    def definition_problems(self, field):
        if not field.options:
            return [("options", msg("a {type} field needs a list of options", type=self.name))]
        return []

    def parse_text(self, field, text):
        return self._option(field, text)

    def display(self, field, value, lang, titles):
        labels = {o.value: o.label.get(lang) for o in field.options}
        return ", ".join(labels.get(v, v) for v in (value if isinstance(value, list) else [value]))

    @staticmethod
    def _option(field: Field, text: str) -> str:
        """The option a cell means, by its value or its label in any language."""
        labels = {
            plain(v): o.value for o in field.options for v in (o.value, o.label.en, o.label.zh) if v
        }
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
            raise Invalid(msg("must be a list of options"))
        return list(dict.fromkeys(value))

    def check(self, field, value):
        for item in value:
            super().check(field, item)

    def json_schema(self, field):
        return {
            "type": "array",
            "items": {"type": "string", "enum": list(field.option_values)},
            "description": "Options; one given twice counts once",
        }

    def parse_text(self, field, text):
        return [self._option(field, p) for p in (p.strip() for p in CELL_LIST.split(text)) if p]
