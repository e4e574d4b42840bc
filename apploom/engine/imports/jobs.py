"""Imports as jobs, so a large file gets a progress bar: the upload is kept in the
instance's imports folder, and the mapping, progress and outcome in ``sys_import``,
where any worker serving the progress page can read them. The import runs on a thread
of the process that started it; each batch writes its progress in its own transaction,
so if that process dies, the outbox worker takes the job up after the last batch that
committed, and no record is created twice."""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, select, update

from apploom.engine import clock
from apploom.engine.access import permissions
from apploom.engine.access.permissions import User
from apploom.engine.access.users import Users
from apploom.engine.definitions.model import ADMIN_ROLE
from apploom.engine.errors import AppLoomError, Forbidden, NotFound, ValidationFailed
from apploom.engine.imports.service import Importer, ImportReport
from apploom.engine.imports.spreadsheets import read_table
from apploom.engine.storage.database import Database, inserted_id
from apploom.engine.storage.system_tables import sys_import

SAMPLE_ROWS = 3
STALE = timedelta(minutes=2)  # a running import silent this long died with its process
# (or is so slow that another runner may take it over)
KEPT = timedelta(days=7)  # how long uploaded files are kept for re-runs
log = logging.getLogger(__name__)


class TakenOver(Exception):
    """Another runner took the import over (this one was thought dead)."""


class Committer:
    """Writes each batch's progress and report with the batch, if no other runner moved
    the job on since this one last wrote; if one did (this runner was only slow, not
    dead), this one stops and its batch is undone."""

    def __init__(self, job_id: int, done: int):
        self.job_id = job_id
        self.done = done  # as this runner last wrote it

    def __call__(self, conn: Connection, report: ImportReport) -> None:
        moved = conn.execute(
            update(sys_import)
            .where(
                sys_import.c.id == self.job_id,
                sys_import.c.status == "running",
                sys_import.c.done == self.done,
            )
            .values(
                done=report.done, total=report.total, report=report.as_dict(), beat_at=clock.now()
            )
        ).rowcount
        if not moved:
            raise TakenOver(self.job_id)
        self.done = report.done


class ImportJobs:
    def __init__(
        self, db: Database, folder: Path, importer: Importer, max_bytes: int, users: Users
    ):
        self.db = db
        self.folder = folder
        self.importer = importer
        self.max_bytes = max_bytes
        self.users = users

    def upload(self, user: User, ref: str, name: str, stream: IO[bytes]) -> dict:
        """Keep an uploaded file for importing into ``ref``; check that it reads."""
        entity = self.importer.records.entity(ref)
        permissions.require(self.importer.records.apps, user, entity, "create")
        data = stream.read(self.max_bytes + 1)
        if len(data) > self.max_bytes:
            raise ValidationFailed({"file": f"is larger than the limit of {self.max_bytes} bytes"})
        header, rows = read_table(name, data)
        stored_as = uuid.uuid4().hex + Path(name).suffix.lower()
        self.folder.mkdir(parents=True, exist_ok=True)
        self._forget_old_files()
        (self.folder / stored_as).write_bytes(data)
        with self.db.write() as conn:
            job_id = inserted_id(
                conn,
                sys_import.insert().values(
                    entity=entity.qualified,
                    file_name=name[:255],
                    stored_as=stored_as,
                    header=header,
                    sample=rows[:SAMPLE_ROWS],
                    rows=len(rows),
                    status="uploaded",
                    user_id=user.id,
                    created_at=clock.now(),
                ),
            )
        return self.get(user, job_id)

    def get(self, user: User, job_id: int) -> dict:
        with self.db.read() as conn:
            job = (
                conn.execute(select(sys_import).where(sys_import.c.id == job_id)).mappings().first()
            )
        if job is None:
            raise NotFound(f"There is no import {job_id}")
        if job["user_id"] != user.id and ADMIN_ROLE not in user.roles:
            raise Forbidden("This import belongs to someone else")
        return dict(job)

    def start(
        self,
        user: User,
        job_id: int,
        mapping: dict[str, str],
        *,
        dry_run: bool,
        then: str | None = None,
        wait: bool = False,
    ) -> dict:
        """Check the mapping, then run the import on a thread (or here, with ``wait``)."""
        job = self.get(user, job_id)
        entity = self.importer.records.entity(job["entity"])
        self.importer.check_mapping(entity, job["header"], mapping)
        with self.db.write() as conn:  # one claim: a double click starts one run
            claimed = conn.execute(
                update(sys_import)
                .where(sys_import.c.id == job_id, sys_import.c.status != "running")
                .values(
                    mapping=mapping,
                    then=then,
                    dry_run=dry_run,
                    status="running",
                    done=0,
                    total=0,
                    report=None,
                    message=None,
                    finished_at=None,
                    beat_at=clock.now(),
                )
            ).rowcount
        if not claimed:
            raise ValidationFailed({"import": "is running already"})
        if wait:
            self._run(user, job_id)
        else:
            threading.Thread(
                target=self._run, args=(user, job_id), daemon=True, name=f"apploom-import-{job_id}"
            ).start()
        return self.get(user, job_id)

    def resume_stale(self, wait: bool = False) -> int:
        """Take up the imports whose runner fell silent (its process died), after their
        last committed batch, each on a thread (or here, with ``wait``); returns how many
        were taken up."""
        silent = sys_import.c.beat_at < clock.now() - STALE
        with self.db.read() as conn:
            stalled = conn.execute(
                select(sys_import.c.id, sys_import.c.user_id).where(
                    sys_import.c.status == "running", silent
                )
            ).all()
        resumed = 0
        for job_id, user_id in stalled:
            with self.db.write() as conn:
                claimed = conn.execute(
                    update(sys_import)
                    .where(sys_import.c.id == job_id, sys_import.c.status == "running", silent)
                    .values(beat_at=clock.now())
                ).rowcount
            if not claimed:
                continue  # another worker took it up first
            user = self.users.active(user_id) if user_id is not None else None
            if user is None:
                self._end(job_id, {"status": "failed", "message": "its user is no longer active"})
                continue
            log.warning("taking up import %s after its runner fell silent", job_id)
            if wait:
                self._run(user, job_id)
            else:
                threading.Thread(
                    target=self._run,
                    args=(user, job_id),
                    daemon=True,
                    name=f"apploom-import-{job_id}",
                ).start()
            resumed += 1
        return resumed

    def _run(self, user: User, job_id: int) -> None:
        job = self.get(user, job_id)
        resuming = job["report"] and not job["dry_run"]
        # what committed stays counted if a later batch fails, or the process dies
        report = ImportReport.of(job["report"]) if resuming else ImportReport()
        outcome: dict[str, Any]
        committed = Committer(job_id, report.done)
        try:
            header, rows = read_table(
                job["file_name"], (self.folder / job["stored_as"]).read_bytes()
            )
            self.importer.run(
                user,
                job["entity"],
                header,
                rows,
                job["mapping"],
                dry_run=job["dry_run"],
                then=job["then"],
                report=report,
                progress=self._progress(job_id) if job["dry_run"] else lambda *_: None,
                committed=committed,
            )
            outcome = {"status": "done"}
        except TakenOver:
            return  # another runner goes on with the job and will finish it
        except AppLoomError as exc:
            outcome = {"status": "failed", "message": str(exc)}
        except Exception as exc:  # a thread has no one to raise to: record it, log it
            log.exception("import %s failed", job_id)
            outcome = {"status": "failed", "message": f"{type(exc).__name__}: {exc}"}
        self._end(
            job_id,
            {**outcome, "report": report.as_dict()},
            None if job["dry_run"] else committed.done,
        )

    def _end(self, job_id: int, outcome: dict, done: int | None = None) -> None:
        """The job's outcome; given ``done``, only if no other runner moved it on since
        (then that one ends it)."""
        mine = [sys_import.c.done == done] if done is not None else []
        with self.db.write() as conn:
            conn.execute(
                update(sys_import)
                .where(sys_import.c.id == job_id, *mine)
                .values(**outcome, finished_at=clock.now())
            )

    def _progress(self, job_id: int):
        """A dry run's progress, written as it goes (its batches never commit)."""

        def progress(done: int, total: int) -> None:
            with self.db.write() as conn:
                conn.execute(
                    update(sys_import)
                    .where(sys_import.c.id == job_id)
                    .values(done=done, total=total, beat_at=clock.now())
                )

        return progress

    def _forget_old_files(self) -> None:
        cutoff = (clock.now() - KEPT).timestamp()
        for path in self.folder.iterdir():
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
