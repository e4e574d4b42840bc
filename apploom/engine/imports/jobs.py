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
from apploom.engine.imports.remembered import Remembered
from apploom.engine.imports.service import Importer, ImportReport, Options
from apploom.engine.imports.spreadsheets import read_head, read_table
from apploom.engine.imports.templates import KINDS, template_file, template_header
from apploom.engine.jobs.progress import Progress
from apploom.engine.jobs.service import Jobs
from apploom.engine.kept_messages import restored
from apploom.engine.messages import msg

SAMPLE_ROWS = 3
KEPT = timedelta(days=7)  # how long uploaded files are kept for re-runs
KIND = "import"


class ImportJobs:
    def __init__(self, jobs: Jobs, folder: Path, importer: Importer, max_bytes: int):
        self.jobs = jobs
        self.folder = folder
        self.importer = importer
        self.max_bytes = max_bytes
        self.remembered = Remembered(jobs.db)
        jobs.kinds[KIND] = self

    def upload(self, user: User, ref: str, name: str, stream: IO[bytes]) -> dict:
        """Keep an uploaded file for importing into ``ref`` once its mapping is chosen
        (the screens); check that its header reads."""
        entity = self._entity(user, ref)
        data, params = self._opened(name, stream)
        params["remembered"] = self.remembered.recall(entity.qualified, params["header"])
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
        options: Options | None = None,
    ) -> dict:
        """Import a file in one call (the API): its header and the options are checked
        here, and nothing is kept if they are refused; the rows are the job's, queued to
        run at once. Without a ``mapping``, the last import of a file of this shape
        lends its mapping and options (those given win), or the header's guess is the
        mapping. Returns the job as queued."""
        entity = self._entity(user, ref)
        data, params = self._opened(name, stream)
        options = options or Options()
        if mapping is None:
            earlier = self.remembered.recall(entity.qualified, params["header"])
            if earlier is None:
                mapping = self.importer.guess(entity, params["header"])
            else:
                mapping = earlier["mapping"]
                options = Options.of(
                    options.then or earlier["then"],
                    options.constants or earlier["constants"],
                    options.create or earlier["create"],
                )
        self.importer.check(user, entity, params["header"], mapping, options)
        params.update(mapping=mapping, dry_run=dry_run, **_settings(options))
        if not dry_run:
            self.remembered.keep(entity.qualified, params["header"], _kept(params))
        params["stored_as"] = self._store(name, data)
        job_id = self.jobs.create(user, KIND, entity.qualified, params)
        queued = self.jobs.view(user, job_id)
        self.jobs.launch(user, job_id)
        return queued

    def get(self, user: User, job_id: int) -> dict:
        """The import, its file's name, header, sample and options beside the job's own."""
        job = self.jobs.get(user, job_id, KIND)
        report = job["report"] and _readable(job["report"])
        return {**job, **job["params"], "report": report}

    def start(
        self,
        user: User,
        job_id: int,
        mapping: dict[str, str],
        *,
        dry_run: bool,
        options: Options | None = None,
        wait: bool = False,
    ) -> dict:
        """Check the mapping, then run the import on a thread (or here, with ``wait``);
        an import (not a dry run) is remembered for the next file of its shape."""
        job = self.jobs.get(user, job_id, KIND)
        entity = self.importer.records.entity(job["entity"])
        options = options or Options()
        self.importer.check(user, entity, job["params"]["header"], mapping, options)
        params = {**job["params"], "mapping": mapping, "dry_run": dry_run, **_settings(options)}
        self.jobs.requeue(job_id, KIND, params)
        if not dry_run:
            self.remembered.keep(entity.qualified, params["header"], _kept(params))
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
            constants=params.get("constants"),
            create=params.get("create", ()),
            report=report,
            progress=progress.note if dry_run else lambda *_: None,
            committed=lambda conn, now: progress.commit(conn, now.done, now.total, now.as_dict()),
        )
        return done.as_dict()

    def outcome(self, job: dict) -> dict | None:
        """The import's report, with the mapping and constants it ran with."""
        if job["report"] is None:
            return None
        params = job["params"]
        return {
            "mapping": params.get("mapping"),
            "constants": params.get("constants") or {},
            "create": params.get("create") or [],
            **_readable(job["report"]),
        }

    def template(self, user: User, ref: str, kind: str, lang: str) -> tuple[str, bytes]:
        """(file name, bytes) of a blank file to fill for importing into ``ref``."""
        entity = self._entity(user, ref)
        if kind not in KINDS:
            raise ValidationFailed(
                {"format": msg("choose one of: {names}", names=", ".join(KINDS))}
            )
        header = template_header(self.importer, entity, lang)
        data = template_file(header, kind, entity.label.get(lang))
        return f"{entity.app}-{entity.name}-import.{kind}", data

    def _entity(self, user: User, ref: str) -> Entity:
        entity = self.importer.records.entity(ref)
        permissions.require(self.importer.records.apps, user, entity, "create")
        return entity

    def _opened(self, name: str, stream: IO[bytes]) -> tuple[bytes, dict]:
        """The file's bytes, and the params of an import of it, checked by its header."""
        data = stream.read(self.max_bytes + 1)
        if len(data) > self.max_bytes:
            raise ValidationFailed(
                {"file": msg("is larger than the limit of {size} bytes", size=self.max_bytes)}
            )
        header, sample = read_head(name, data, SAMPLE_ROWS)
        return data, {
            "file_name": name[:255],
            "header": header,
            "sample": sample,
            "mapping": None,
            "then": None,
            "constants": {},
            "create": [],
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


def _settings(options: Options) -> dict:
    """An import's options as its job's params keep them."""
    return {
        "then": options.then,
        "constants": dict(options.constants),
        "create": sorted(options.create),
    }


def _kept(params: dict) -> dict:
    """What is remembered of an import for the next file of its shape."""
    return {k: params[k] for k in ("mapping", "then", "constants", "create")}


def _readable(report: dict) -> dict:
    """A stored report with its problems' messages as Messages again, to be worded in a
    reader's language."""
    return {**report, "errors": [restored(e) for e in report.get("errors", [])]}
