"""Fields that point at other rows: records (refs), users, uploaded files, child rows."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Integer, String

from apploom.engine.fields.base import MAX_INT, FieldType, Invalid, parse_int, reject_bool
from apploom.engine.messages import msg

ME = "me"  # a user field's word for the user acting: a default, a filter, an assignment


class _IdType(FieldType):
    """Integer ids of other rows."""

    def column_type(self, field):
        return BigInteger().with_variant(Integer(), "sqlite")

    def coerce(self, field, value):
        reject_bool(value, "an id")
        if isinstance(value, dict) and "id" in value:
            value = value["id"]
        number = parse_int(value)
        if number is None or number < 1:
            raise Invalid(msg("must be the id of a record"))
        return number

    def json_schema(self, field):
        return {"type": "integer", "minimum": 1, "maximum": MAX_INT}

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
        return {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_INT,
            "description": f"Id of a {field.to} record.",
        }

    def definition_problems(self, field):
        return [] if field.to else [("to", msg("a ref field needs 'to': the entity it points at"))]


class UserType(_IdType):
    name = "user"
    settings = frozenset({"notify"})  # the message a user gets when the field comes to name them
    is_user = True
    dynamic_defaults = (ME,)
    widget = "user"

    def foreign_key(self, field):
        return ForeignKey("sys_user.id")

    def default(self, field, user_id, now):
        return user_id if field.default == ME else field.default


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
        least = max(field.min_rows, 1 if field.required else 0)  # required: one row at least
        if least:
            schema["minItems"] = least
        schema["maxItems"] = field.row_limit
        return schema

    def definition_problems(self, field):
        return [] if field.of else [("of", msg("a table field needs 'of': the entity of its rows"))]


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
        raise Invalid(msg("must be the id of an uploaded file"))

    def json_schema(self, field):
        return {
            "type": "string",
            "pattern": f"^{self._id.pattern}$",
            "description": "Id returned by POST /api/v1/attachments.",
        }
