"""A transition taken on many records at once, as a job (see apploom.engine.jobs): each
record in a transaction of its own, with the user's rights on that record checked as for
one, so a record refused (its state, its condition, who may see it) leaves the others
taken; each refusal is kept with its reason, and the job's progress commits with every
record, so a job taken up after its process died takes none twice."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, select

from apploom.engine.access.permissions import User
from apploom.engine.errors import AppLoomError, ValidationFailed
from apploom.engine.fields.base import parse_int
from apploom.engine.jobs.progress import Progress
from apploom.engine.jobs.service import Jobs
from apploom.engine.kept_messages import kept_refusal, restored_refusal
from apploom.engine.messages import message_of, msg
from apploom.engine.records.inputs import read_input
from apploom.engine.storage.system_tables import sys_job_refusal
from apploom.engine.workflow.service import Transitions

MAX_IDS = 10_000
KIND = "transition"


class BulkTransitions:
    def __init__(self, transitions: Transitions, jobs: Jobs):
        self.transitions = transitions
        self.records = transitions.records
        self.jobs = jobs
        jobs.kinds[KIND] = self

    def start(
        self,
        user: User,
        ref: str,
        name: str,
        ids: Any,
        data: Any = None,
        *,
        comment: str | None = None,
        wait: bool = False,
    ) -> dict:
        """Queue ``name`` on the records ``ids`` (each once, in the order given); ``data``
        fills in the fields it asks for, the same for every record. What no record can
        change (the transition, the fields, the user's roles) is checked here; the job
        runs on a thread (or here, with ``wait``). Returns the job as queued."""
        entity = self.records.entity(ref)
        self.transitions.prepare(user, ref, name, data, comment=comment)
        ids = _ids(ids)
        given = read_input(entity, data or {}, self.records.apps, self.records.types)
        if given.errors:  # the same for every record: refused now, not once for each
            raise ValidationFailed(given.errors)
        params = {"transition": name, "ids": ids, "data": _plain(data or {}), "comment": comment}
        job_id = self.jobs.create(user, KIND, entity.qualified, params)
        queued = self.jobs.view(user, job_id)
        self.jobs.launch(user, job_id, wait=wait)
        return queued

    def run(self, user: User, job: dict, progress: Progress) -> dict:
        params = job["params"]
        take = self.transitions.prepare(
            user, job["entity"], params["transition"], params["data"], comment=params["comment"]
        )
        ids = params["ids"]
        report = job["report"] or {"taken": 0, "refused": 0}
        for position in range(progress.done, len(ids)):
            taken = {**report, "taken": report["taken"] + 1}

            def one(conn: Connection, position: int = position, taken: dict = taken) -> None:
                take(conn, ids[position], None)
                progress.commit(conn, position + 1, len(ids), taken)

            try:
                self.records.transaction(one)
                report = taken
            except AppLoomError as exc:
                report = {**report, "refused": report["refused"] + 1}
                message, fields = message_of(exc), getattr(exc, "fields", None) or {}
                with self.records.db.write() as conn:
                    conn.execute(
                        sys_job_refusal.insert().values(
                            job_id=job["id"],
                            position=position,
                            record_id=ids[position],
                            message=str(message),
                            fields=fields or None,
                            said=kept_refusal(message, fields),
                        )
                    )
                    progress.commit(conn, position + 1, len(ids), report)
        return report

    def outcome(self, job: dict) -> dict:
        """The records the transition was taken on, and those refused with the reason."""
        with self.records.db.read() as conn:
            rows = conn.execute(
                select(sys_job_refusal)
                .where(sys_job_refusal.c.job_id == job["id"])
                .order_by(sys_job_refusal.c.position)
            ).mappings()
            refused = {row["position"]: row for row in rows}
        ids = job["params"]["ids"]
        return {
            "transition": job["params"]["transition"],
            "taken": [ids[p] for p in range(job["done"]) if p not in refused],
            "refused": [
                {
                    "id": row["record_id"],
                    **restored_refusal(row["message"], row["fields"] or {}, row["said"]),
                }
                for row in refused.values()
            ],
        }


def _ids(ids: Any) -> list[int]:
    """The record ids, each once, in the order given; or a refusal naming 'ids'."""
    if not isinstance(ids, list) or not ids:
        raise ValidationFailed({"ids": msg("must be a list of record ids, like [12, 13]")})
    if len(ids) > MAX_IDS:
        raise ValidationFailed(
            {"ids": msg("may hold at most {count} ids; send the rest after", count=MAX_IDS)}
        )
    numbers = []
    for given in ids:
        number = None if isinstance(given, str) else parse_int(given)  # 12.0 is 12
        if number is None or number < 1:
            shown = json.dumps(given, default=float, ensure_ascii=False)[:40]
            raise ValidationFailed(
                {"ids": msg("must be whole numbers from 1, not {shown}", shown=shown)}
            )
        numbers.append(number)
    return list(dict.fromkeys(numbers))


def _plain(data: dict) -> dict:
    """The fields given, as JSON stores them (a number with a fraction as its text,
    which the field reads back the same)."""
    return json.loads(json.dumps(data, default=str))
