"""Jobs: work a user started that may take longer than a request may (a file of thousands
of orders, a transition on thousands of records). The request stores what to do in
``sys_job`` and answers at once; the job runs on a thread of the same process, writing
its progress with each step it commits. A job whose runner falls silent (its process
died) is taken up by the outbox worker of any process, after its last committed step.

Only the user who started a job, or an admin, may read it; to anyone else it does not
exist, so its id tells nothing."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import select, update

from apploom.engine import clock
from apploom.engine.access.permissions import User
from apploom.engine.access.users import Users
from apploom.engine.errors import AppLoomError, NotFound, ValidationFailed
from apploom.engine.jobs.progress import Progress, TakenOver
from apploom.engine.messages import msg
from apploom.engine.storage.database import Database, inserted_id
from apploom.engine.storage.system_tables import sys_job, sys_user

ACTIVE = ("queued", "running")
STATUSES = ("uploaded", *ACTIVE, "done", "failed")  # uploaded: an import awaiting its mapping
STALE = timedelta(minutes=2)  # a running job silent this long died with its process
# (or is so slow that another runner may take it over)
RECENT = 50  # jobs a user's list holds
log = logging.getLogger(__name__)


class Kind(Protocol):
    """What runs the jobs of one kind, and reads what they did."""

    def run(self, user: User, job: dict, progress: Progress) -> dict:
        """Do ``job`` (from ``progress.done`` on, when taken up again), writing its
        progress with each step; returns its report."""
        ...

    def outcome(self, job: dict) -> dict | None:
        """What ``job`` did so far, as its reader is shown it."""
        ...


class Jobs:
    def __init__(self, db: Database, users: Users):
        self.db = db
        self.users = users
        self.kinds: dict[str, Kind] = {}

    def create(
        self, user: User, kind: str, entity: str, params: dict, status: str = "queued"
    ) -> int:
        now = clock.now()
        with self.db.write() as conn:
            return inserted_id(
                conn,
                sys_job.insert().values(
                    kind=kind,
                    entity=entity,
                    params=params,
                    status=status,
                    done=0,
                    total=0,
                    beat_at=now if status in ACTIVE else None,
                    user_id=user.id,
                    created_at=now,
                ),
            )

    def get(self, user: User, job_id: int, kind: str | None = None) -> dict:
        """The job (of ``kind``, if given), with its starter's username."""
        job = self._row(job_id)
        if (
            job is None
            or (kind is not None and job["kind"] != kind)
            or (job["user_id"] != user.id and not user.is_admin)
        ):
            raise NotFound(msg("There is no job {id}", id=job_id))
        return job

    def view(self, user: User, job_id: int) -> dict:
        """The job as its reader sees it: its progress, and what it did so far."""
        job = self.get(user, job_id)
        return {**_summary(job), "outcome": self.kinds[job["kind"]].outcome(job)}

    def recent(self, user: User) -> list[dict]:
        """The user's latest jobs, newest first, without what they did."""
        query = (
            _joined()
            .where(sys_job.c.user_id == user.id)
            .order_by(sys_job.c.id.desc())
            .limit(RECENT)
        )
        with self.db.read() as conn:
            return [_summary(dict(row)) for row in conn.execute(query).mappings()]

    def requeue(self, job_id: int, kind: str, params: dict) -> None:
        """Queue a job that is not running to run again with ``params`` (an import with
        the mapping chosen); one claim, so a double click starts one run."""
        with self.db.write() as conn:
            claimed = conn.execute(
                update(sys_job)
                .where(sys_job.c.id == job_id, sys_job.c.status.not_in(ACTIVE))
                .values(
                    params=params,
                    status="queued",
                    done=0,
                    total=0,
                    report=None,
                    message=None,
                    finished_at=None,
                    beat_at=clock.now(),
                )
            ).rowcount
        if not claimed:
            raise ValidationFailed({kind: msg("is running already")})

    def launch(self, user: User, job_id: int, *, wait: bool = False) -> None:
        """Run a queued job on a thread of this process (or here, with ``wait``)."""
        self._on_thread(self._begin, user, job_id, wait)

    def resume_stale(self, wait: bool = False) -> int:
        """Take up the jobs whose runner fell silent (its process died) after their last
        committed step, each on a thread (or here, with ``wait``); returns how many were
        taken up."""
        silent = (sys_job.c.status.in_(ACTIVE), sys_job.c.beat_at < clock.now() - STALE)
        with self.db.read() as conn:
            stalled = conn.execute(select(sys_job.c.id, sys_job.c.user_id).where(*silent)).all()
        resumed = 0
        for job_id, user_id in stalled:
            with self.db.write() as conn:
                claimed = conn.execute(
                    update(sys_job)
                    .where(sys_job.c.id == job_id, *silent)
                    .values(status="running", beat_at=clock.now())
                ).rowcount
            if not claimed:
                continue  # another worker took it up first
            user = self.users.active(user_id) if user_id is not None else None
            if user is None:
                self._end(job_id, {"status": "failed", "message": "its user is no longer active"})
                continue
            log.warning("taking up job %s after its runner fell silent", job_id)
            self._on_thread(self._work, user, job_id, wait)
            resumed += 1
        return resumed

    def _on_thread(self, target, user: User, job_id: int, wait: bool) -> None:
        if wait:
            target(user, job_id)
        else:
            threading.Thread(
                target=target, args=(user, job_id), daemon=True, name=f"apploom-job-{job_id}"
            ).start()

    def _begin(self, user: User, job_id: int) -> None:
        with self.db.write() as conn:
            claimed = conn.execute(
                update(sys_job)
                .where(sys_job.c.id == job_id, sys_job.c.status == "queued")
                .values(status="running", beat_at=clock.now())
            ).rowcount
        if claimed:  # else a worker took it up, thinking it stalled
            self._work(user, job_id)

    def _work(self, user: User, job_id: int) -> None:
        job = self._row(job_id)
        assert job is not None
        progress = Progress(self.db, job_id, job["done"])
        outcome: dict[str, Any]
        try:
            outcome = {"status": "done", "report": self.kinds[job["kind"]].run(user, job, progress)}
        except TakenOver:
            return  # another runner goes on with the job and will finish it
        except AppLoomError as exc:
            outcome = {"status": "failed", "message": _reason(exc)}
        except Exception as exc:  # a thread has no one to raise to: record it, log it
            log.exception("job %s failed", job_id)
            outcome = {"status": "failed", "message": f"{type(exc).__name__}: {exc}"}
        self._end(job_id, outcome, progress.done)

    def _end(self, job_id: int, outcome: dict, done: int | None = None) -> None:
        """The job's outcome; given ``done``, only if no other runner moved it on since
        (then that one ends it)."""
        mine = [sys_job.c.done == done] if done is not None else []
        with self.db.write() as conn:
            conn.execute(
                update(sys_job)
                .where(sys_job.c.id == job_id, *mine)
                .values(**outcome, finished_at=clock.now())
            )

    def _row(self, job_id: int) -> dict | None:
        with self.db.read() as conn:
            row = conn.execute(_joined().where(sys_job.c.id == job_id)).mappings().first()
        return None if row is None else dict(row)


def _reason(exc: AppLoomError) -> str:
    """Why a job failed, naming each field at fault: its reader has no form to show
    them beside."""
    fields = getattr(exc, "fields", None)
    return (
        "; ".join(f"{name}: {message}" for name, message in fields.items()) if fields else str(exc)
    )


def _joined():
    return select(sys_job, sys_user.c.username).outerjoin(
        sys_user, sys_user.c.id == sys_job.c.user_id
    )


def _summary(job: dict) -> dict:
    return {
        "id": job["id"],
        "kind": job["kind"],
        "entity": job["entity"],
        "status": job["status"],
        "progress": {"done": job["done"], "total": job["total"]},
        "user": job["username"],
        "message": job["message"],
        "created_at": job["created_at"],
        "finished_at": job["finished_at"],
    }
