"""What an import ran with, remembered by the shape of its file (the entity it went into
and its header), so the next file of that shape (the same shop's next export) is offered
the same mapping, constants (channel = marketplace) and options."""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import delete, select

from apploom.engine.storage.database import Database, insert_ignore
from apploom.engine.storage.system_tables import sys_meta

PREFIX = "import-mapping:"


def shape(ref: str, header: list[str]) -> str:
    """The key a file's shape is remembered by: an entity and the header's columns."""
    digest = hashlib.sha256(json.dumps([ref, header], ensure_ascii=False).encode()).hexdigest()
    return PREFIX + digest[:64]


class Remembered:
    def __init__(self, db: Database):
        self.db = db

    def recall(self, ref: str, header: list[str]) -> dict | None:
        """{mapping, constants, create, then} of the last import of this shape, if any."""
        with self.db.read() as conn:
            text = conn.execute(
                select(sys_meta.c.value).where(sys_meta.c.key == shape(ref, header))
            ).scalar()
        return None if text is None else json.loads(text)

    def keep(self, ref: str, header: list[str], settings: dict) -> None:
        key = shape(ref, header)
        with self.db.write() as conn:
            conn.execute(delete(sys_meta).where(sys_meta.c.key == key))
            value = json.dumps(settings, ensure_ascii=False)
            insert_ignore(conn, sys_meta, {"key": key, "value": value})  # two at once: one
