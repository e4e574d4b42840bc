"""What a full export holds: a sheet per table of every app (entities, their child rows,
balances), the users and the uploaded files' list, each column described by a Field so
its values take their JSON form and its meaning can be written down."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Table

from apploom.engine.definitions.model import AppSet, Entity, Field, Label
from apploom.engine.fields.registry import FieldTypes
from apploom.engine.query.filters import SYSTEM_FIELDS
from apploom.engine.storage.system_tables import sys_attachment, sys_user

USERS = "users"
FILES = "files"


@dataclass(frozen=True)
class Sheet:
    name: str  # the file's name without its suffix, e.g. "oms.order"
    label: Label
    table: Table
    fields: tuple[Field, ...]
    about: str  # what its rows are


def sheets(apps: AppSet, types: FieldTypes, tables: dict[str, Table]) -> list[Sheet]:
    found = []
    for entity in apps.entities():
        found.append(
            Sheet(
                entity.qualified,
                entity.label,
                tables[entity.table],
                _own_fields(entity, apps, types),
                f"child rows of {entity.parent}" if entity.parent else "records",
            )
        )
        for balance in entity.balances:
            found.append(
                Sheet(
                    f"{entity.app}.{balance.name}",
                    balance.label or Label.parse(None, balance.name),
                    tables[balance.table_name()],
                    (
                        SYSTEM_FIELDS["id"],
                        *(entity.fields[name] for name in balance.by),
                        *(Field(c, "integer", balance.label_of(c)) for c in balance.sums),
                    ),
                    f"balances kept over {entity.qualified} (derived from it)",
                )
            )
    return [*found, _users(), _files()]


def _own_fields(entity: Entity, apps: AppSet, types: FieldTypes) -> tuple[Field, ...]:
    if entity.parent:
        system: tuple[Field, ...] = (
            SYSTEM_FIELDS["id"],
            Field("parent_id", "ref", Label("Parent", "上级"), to=entity.parent),
            Field("position", "integer", Label("Position", "序号")),
        )
    else:
        system = tuple(
            SYSTEM_FIELDS[n]
            for n in ("id", "version", "created_at", "created_by", "updated_at", "updated_by")
        )
    own = tuple(f for f in entity.fields.values() if types[f.type].has_column)
    return system + own


def _users() -> Sheet:
    fields = (
        SYSTEM_FIELDS["id"],
        Field("username", "text", Label("Username", "用户名")),
        Field("display_name", "text", Label("Name", "姓名")),
        Field("email", "email", Label("Email", "邮箱")),
        Field("roles", "multiselect", Label("Roles", "角色")),
        Field("active", "boolean", Label("Active", "启用")),
        SYSTEM_FIELDS["created_at"],
    )
    return Sheet(USERS, Label("Users", "用户"), sys_user, fields, "users (no passwords)")


def _files() -> Sheet:
    fields = (
        Field("id", "text", Label("Id", "编号")),
        Field("name", "text", Label("File name", "文件名")),
        Field("content_type", "text", Label("Content type", "类型")),
        Field("size", "integer", Label("Bytes", "字节")),
        Field("sha256", "text", Label("SHA-256", "SHA-256")),
        SYSTEM_FIELDS["created_by"],
        SYSTEM_FIELDS["created_at"],
    )
    return Sheet(FILES, Label("Files", "文件"), sys_attachment, fields, "uploaded files")
