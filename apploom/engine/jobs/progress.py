"""A running job's progress, written with the work it counts: if its process dies, the
job is taken up after the last step that committed, and nothing is done twice."""

from __future__ import annotations

from sqlalchemy import Connection, update

from apploom.engine import clock
from apploom.engine.storage.database import Database
from apploom.engine.storage.system_tables import sys_job


class TakenOver(Exception):
    """Another runner took the job over (this one was thought dead)."""


class Progress:
    """Writes a job's progress (and its report so far) only if no other runner moved the
    job on since this one last wrote; if one did (this runner was only slow, not dead),
    this one stops, and the step it was writing is undone with its transaction."""

    def __init__(self, db: Database, job_id: int, done: int):
        self.db = db
        self.job_id = job_id
        self.done = done  # as this runner last wrote it

    def commit(self, conn: Connection, done: int, total: int, report: dict | None) -> None:
        """Inside the transaction of the work it counts: both commit, or neither."""
        values: dict = {"done": done, "total": total, "beat_at": clock.now()}
        if report is not None:
            values["report"] = report
        moved = conn.execute(
            update(sys_job)
            .where(
                sys_job.c.id == self.job_id,
                sys_job.c.status == "running",
                sys_job.c.done == self.done,
            )
            .values(**values)
        ).rowcount
        if not moved:
            raise TakenOver(self.job_id)
        self.done = done

    def note(self, done: int, total: int) -> None:
        """For work that commits nothing (a dry run): the progress alone."""
        with self.db.write() as conn:
            self.commit(conn, done, total, None)
