"""What an operator watches that the database holds: the outbox's backlog and dead
letters, import jobs by status, and failed rule runs. Read when asked, from the
database, so every process on every host answers the same, and what the outbox workers
and scheduled rules did in processes that serve no page is counted too."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import func, select

from apploom.engine import clock
from apploom.engine.imports.jobs import KIND as IMPORT
from apploom.engine.jobs.service import STATUSES
from apploom.engine.storage.database import Database
from apploom.engine.storage.system_tables import sys_job, sys_outbox, sys_rule_run

WAITING = ("pending", "sending")  # an outbox message not yet delivered nor given up


_OUTBOX = (
    select(sys_outbox.c.status, sys_outbox.c.kind, func.count(), func.min(sys_outbox.c.created_at))
    .where(sys_outbox.c.status.in_((*WAITING, "dead")))  # from the (status, ...) index
    .group_by(sys_outbox.c.status, sys_outbox.c.kind)
)
_IMPORTS = (
    select(sys_job.c.status, func.count())
    .where(sys_job.c.kind == IMPORT)
    .group_by(sys_job.c.status)
)
_RULE_FAILURES = (  # from the index of failed runs alone
    select(sys_rule_run.c.entity, sys_rule_run.c.rule, func.count())
    .where(sys_rule_run.c.outcome == "failed")
    .group_by(sys_rule_run.c.entity, sys_rule_run.c.rule)
)


@dataclass(frozen=True)
class Figures:
    waiting: Counter[str]  # kind -> outbox messages not yet delivered
    oldest_waiting_seconds: float  # how long the oldest of them has waited; 0 for none
    dead: Counter[str]  # kind -> dead letters
    imports: Counter[str]  # status -> import jobs, each status named
    rule_failures: Counter[tuple[str, str]]  # (entity, rule) -> failed runs


def figures(db: Database) -> Figures:
    now = clock.now()
    waiting: Counter[str] = Counter()
    dead: Counter[str] = Counter()
    oldest = now
    with db.read() as conn:
        for status, kind, count, first in conn.execute(_OUTBOX):
            if status == "dead":
                dead[kind] += count
            else:
                waiting[kind] += count
                oldest = min(oldest, first)
        imports = Counter(dict.fromkeys(STATUSES, 0))
        imports.update({status: n for status, n in conn.execute(_IMPORTS)})
        failures = Counter({(e, r): n for e, r, n in conn.execute(_RULE_FAILURES)})
    return Figures(waiting, max(0.0, (now - oldest).total_seconds()), dead, imports, failures)
