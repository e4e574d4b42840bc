"""Attachments: files stored under the instance folder, their metadata in
``sys_attachment``. Size is limited while the upload streams in."""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from sqlalchemy import select

from apploom.engine.access import permissions
from apploom.engine.access.permissions import User
from apploom.engine.definitions.model import Entity
from apploom.engine.errors import Forbidden, NotFound, ValidationFailed
from apploom.engine.messages import msg
from apploom.engine.records.service import RecordService
from apploom.engine.storage.database import Database
from apploom.engine.storage.system_tables import sys_attachment

CHUNK = 64 * 1024


def _safe_name(name: str) -> str:
    name = re.sub(r"[\x00-\x1f]", "", os.path.basename(name.replace("\\", "/"))).strip()
    return name[:255] or "file"


class Attachments:
    def __init__(self, db: Database, folder: Path, max_bytes: int, records: RecordService):
        self.db = db
        self.folder = folder
        self.max_bytes = max_bytes
        self.records = records

    def path(self, attachment_id: str) -> Path:
        return self.folder / attachment_id[:2] / attachment_id

    def store(self, user: User, stream: IO[bytes], name: str, content_type: str | None) -> dict:
        """Save an upload; only users who may fill in some attachment field may upload."""
        if not any(
            permissions.scope(self.records.apps, user, entity, action)
            for entity in self._holders()
            for action in ("create", "update")
        ):
            raise Forbidden(
                msg("You may not upload files: none of your roles may fill in a file field")
            )
        attachment_id = uuid.uuid4().hex
        target = self.path(attachment_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".part")
        digest, size = hashlib.sha256(), 0
        try:
            with partial.open("wb") as out:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise ValidationFailed(
                            {
                                "file": msg(
                                    "is larger than the limit of {size} bytes", size=self.max_bytes
                                )
                            }
                        )
                    digest.update(chunk)
                    out.write(chunk)
            meta = {
                "id": attachment_id,
                "name": _safe_name(name),
                "content_type": content_type or "application/octet-stream",
                "size": size,
                "sha256": digest.hexdigest(),
            }
            with self.db.write() as conn:
                conn.execute(
                    sys_attachment.insert().values(
                        **meta, created_by=user.id, created_at=datetime.now(timezone.utc)
                    )
                )
            partial.rename(target)
        finally:
            partial.unlink(missing_ok=True)
        return meta

    def open(self, user: User, attachment_id: str) -> tuple[dict, Path]:
        """Metadata and path of a file the user may see: theirs, or on a record they may read."""
        with self.db.read() as conn:
            row = (
                conn.execute(select(sys_attachment).where(sys_attachment.c.id == attachment_id))
                .mappings()
                .first()
            )
            if row is None:
                raise NotFound(msg("There is no file {id}", id=attachment_id))
            if not (
                user.is_admin
                or row["created_by"] == user.id
                or self.records.file_places(conn, user, attachment_id)[1]
            ):
                raise Forbidden(msg("You may not see this file"))
        meta = {k: row[k] for k in ("id", "name", "content_type", "size", "sha256")}
        return meta, self.path(attachment_id)

    def _holders(self) -> list[Entity]:
        """Entities with an attachment field of their own."""
        types = self.records.types
        return [
            e
            for e in self.records.apps.entities()
            if not e.is_child and any(types[f.type].holds_file for f in e.fields.values())
        ]
