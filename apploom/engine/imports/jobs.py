"""Imports as jobs, so a large file never holds the request that sent it: the upload is
kept in the instance's imports folder and checked by its header; the mapping, progress
and outcome are the job's (see apploom.engine.jobs). Each batch writes its progress in
its own transaction, so an import taken up after its process died goes on after the
last batch that committed, and no record is created twice."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import IO

from apploom.engine import clock
from apploom.engine.access import permissions
from apploom.engine.access.permissions import User
from apploom.engine.definitions.model import Entity
from apploom.engine.errors import ValidationFailed
from apploom.engine.imports.service import Importer, ImportReport
from apploom.engine.imports.spreadsheets import read_head, read_table
from apploom.engine.jobs.progress import Progress
from apploom.engine.jobs.service import Jobs

SAMPLE_ROWS = 3
KEPT = timedelta(days=7)  # how long uploaded files are kept for re-runs
KIND = "import"


class ImportJobs:
    def __init__(self, jobs: Jobs, folder: Path, importer: Importer, max_bytes: int):
        self.jobs = jobs
        self.folder = folder
        self.importer = importer
        self.max_bytes = max_bytes
        jobs.kinds[KIND] = self

    def upload(self, user: User, ref: str, name: str, stream: IO[bytes]) -> dict:
        """Keep an uploaded file for importing into ``ref`` once its mapping is chosen
        (the screens); check that its header reads."""
        entity = self._entity(user, ref)
        data, params = self._opened(name, stream)
        params["stored_as"] = self._store(name, data)
        return self.get(user, self.jobs.create(user, KIND, entity.qualified, params, "uploaded"))

    def submit(
        self,
        user: User,
        ref: str,
        name: str,
        stream: IO[bytes],
        mapping: dict[str, str] | None,
        *,
        dry_run: bool,
        then: str | None = None,
    ) -> dict:
        """Import a file in one call (the API): its header and the options are checked
        here, and nothing is kept if they are refused; the rows are the job's, queued to
        run at once. ``mapping`` defaults to the guess from the header. Returns the job
        as queued."""
        entity = self._entity(user, ref)
        data, params = self._opened(name, stream)
        if mapping is None:
            mapping = self.importer.guess(entity, params["header"])
        self.importer.check(user, entity, params["header"], mapping, then)
        params.update(mapping=mapping, then=then, dry_run=dry_run)
        params["stored_as"] = self._store(name, data)
        job_id = self.jobs.create(user, KIND, entity.qualified, params)
        queued = self.jobs.view(user, job_id)
        self.jobs.launch(user, job_id)
        return queued

    def get(self, user: User, job_id: int) -> dict:
        """The import, its file's name, header, sample and options beside the job's own."""
        job = self.jobs.get(user, job_id, KIND)
        return {**job, **job["params"]}

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
        job = self.jobs.get(user, job_id, KIND)
        entity = self.importer.records.entity(job["entity"])
        self.importer.check(user, entity, job["params"]["header"], mapping, then)
        params = {**job["params"], "mapping": mapping, "then": then, "dry_run": dry_run}
        self.jobs.requeue(job_id, KIND, params)
        self.jobs.launch(user, job_id, wait=wait)
        return self.get(user, job_id)

    def run(self, user: User, job: dict, progress: Progress) -> dict:
        params = job["params"]
        dry_run = params["dry_run"]
        # what committed stays counted if a later batch fails, or the process dies
        report = ImportReport.of(job["report"]) if job["report"] and not dry_run else None
        header, rows = read_table(
            params["file_name"], (self.folder / params["stored_as"]).read_bytes()
        )
        done = self.importer.run(
            user,
            job["entity"],
            header,
            rows,
            params["mapping"],
            dry_run=dry_run,
            then=params["then"],
            report=report,
            progress=progress.note if dry_run else lambda *_: None,
            committed=lambda conn, now: progress.commit(conn, now.done, now.total, now.as_dict()),
        )
        return done.as_dict()

    def outcome(self, job: dict) -> dict | None:
        """The import's report, with the mapping it ran with."""
        if job["report"] is None:
            return None
        return {"mapping": job["params"].get("mapping"), **job["report"]}

    def _entity(self, user: User, ref: str) -> Entity:
        entity = self.importer.records.entity(ref)
        permissions.require(self.importer.records.apps, user, entity, "create")
        return entity

    def _opened(self, name: str, stream: IO[bytes]) -> tuple[bytes, dict]:
        """The file's bytes, and the params of an import of it, checked by its header."""
        data = stream.read(self.max_bytes + 1)
        if len(data) > self.max_bytes:
            raise ValidationFailed({"file": f"is larger than the limit of {self.max_bytes} bytes"})
        header, sample = read_head(name, data, SAMPLE_ROWS)
        return data, {
            "file_name": name[:255],
            "header": header,
            "sample": sample,
            "mapping": None,
            "then": None,
            "dry_run": False,
        }

    def _store(self, name: str, data: bytes) -> str:
        """Keep the file in the imports folder (forgetting those past KEPT); its name
        there."""
        stored_as = uuid.uuid4().hex + Path(name).suffix.lower()
        self.folder.mkdir(parents=True, exist_ok=True)
        cutoff = (clock.now() - KEPT).timestamp()
        for path in self.folder.iterdir():
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
        (self.folder / stored_as).write_bytes(data)
        return stored_as
