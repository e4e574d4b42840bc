"""Workflow analytics for any entity with a workflow, with nothing to define: how many
records are in each state, how long they stay there (average and 90th percentile), how
many reach each final state per period, and which have waited too long — for orders,
how fast they are processed and where they wait. Computed in SQL from the transition
log (window functions: LEAD for when a record left a state, NTILE for the percentile).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Float, bindparam, case, cast, extract, func, select

from apploom.engine import clock
from apploom.engine.access.permissions import User
from apploom.engine.errors import BadQuery
from apploom.engine.messages import msg
from apploom.engine.records.service import RecordService
from apploom.engine.reports.definition import BUCKETS
from apploom.engine.reports.service import time_bucket
from apploom.engine.storage.column_types import UTCDateTime
from apploom.engine.storage.system_tables import sys_transition

STUCK_SHOWN = 50


class FlowAnalytics:
    def __init__(self, records: RecordService):
        self.records = records

    def analyse(
        self,
        user: User,
        ref: str,
        *,
        period: str = "month",
        stuck_after: timedelta = timedelta(hours=48),
        now: datetime | None = None,
    ) -> dict:
        entity = self.records.entity(ref)
        workflow = entity.workflow
        if workflow is None:
            raise BadQuery(msg("{entity} has no workflow", entity=entity.label), {"entity": ref})
        if period not in BUCKETS:
            raise BadQuery(
                f"'{period}' is not a period: {', '.join(BUCKETS)}",
                {"period": f"choose one of: {', '.join(BUCKETS)}"},
            )
        now = now or clock.now()
        table = self.records.tables[entity.table]
        visible = self.records.compiler.visible(user, entity)  # also checks read access
        mine = [] if visible is None else [visible]
        state = table.c[workflow.field]
        log = sys_transition
        in_view = [log.c.entity == entity.qualified] + (
            [] if visible is None else [log.c.record_id.in_(select(table.c.id).where(visible))]
        )
        finals = [s.name for s in workflow.states.values() if s.final]
        with self.records.db.read() as conn:
            counts: dict[str, int] = dict(
                conn.execute(select(state, func.count()).where(*mine).group_by(state)).all()
            )
            spent = conn.execute(self._time_in_state(in_view, now)).all()
            throughput = conn.execute(
                select(
                    time_bucket(self.records.db.dialect, log.c.at, period, True).label("p"),
                    log.c.to_state,
                    func.count(),
                )
                .where(*in_view, log.c.to_state.in_(finals), log.c.transition.is_not(None))
                .group_by("p", log.c.to_state)
                .order_by("p")
            ).all()
            since = func.max(log.c.at)
            stuck = conn.execute(
                select(table.c.id, state, since.label("since"))
                .join(
                    log,
                    (log.c.entity == entity.qualified)
                    & (log.c.record_id == table.c.id)
                    & (log.c.to_state == state),
                )
                .where(*mine, state.not_in(finals))
                .group_by(table.c.id, state)
                .having(since < now - stuck_after)
                .order_by("since")
                .limit(STUCK_SHOWN)
            ).all()
        hours = {
            row.to_state: row
            for row in spent  # states since removed are left out
            if row.to_state in workflow.states and not workflow.states[row.to_state].final
        }
        return {
            "states": [
                {
                    "state": s.name,
                    "label": {"en": s.label.en, "zh": s.label.zh},
                    "final": s.final,
                    "now": counts.get(s.name, 0),
                    "records": hours[s.name].records if s.name in hours else 0,
                    "average_hours": _hours(hours[s.name].average) if s.name in hours else None,
                    "p90_hours": _hours(hours[s.name].p90) if s.name in hours else None,
                }
                for s in workflow.states.values()
            ],
            "throughput": [
                {"period": p, "state": s, "records": n}
                for p, s, n in throughput
                if s in workflow.states
            ],
            "stuck": [
                {"id": i, "state": s, "since": at, "hours": _hours((now - at).total_seconds())}
                for i, s, at in stuck
            ],
            "period": period,
            "stuck_after_hours": stuck_after.total_seconds() / 3600,
        }

    def _time_in_state(self, in_view: list, now: datetime):
        """Per state, over the records that were in it: how many, the average and the
        90th percentile of the seconds each spent there in all (a final state, where
        records stay, is left out)."""
        log = sys_transition
        left_at = func.lead(log.c.at).over(
            partition_by=log.c.record_id, order_by=(log.c.at, log.c.id)
        )
        steps = (
            select(log.c.record_id, log.c.to_state, log.c.at, left_at.label("left_at"))
            .where(*in_view)
            .cte("steps")
        )
        ended = func.coalesce(steps.c.left_at, bindparam("now", now, type_=UTCDateTime))
        if self.records.db.is_sqlite:
            seconds = (func.julianday(ended) - func.julianday(steps.c.at)) * 86400.0
        else:
            seconds = cast(extract("epoch", ended - steps.c.at), Float)
        per_record = (
            select(steps.c.to_state, func.sum(seconds).label("seconds"))
            .group_by(steps.c.record_id, steps.c.to_state)
            .cte("per_record")
        )
        tenth = func.ntile(10).over(
            partition_by=per_record.c.to_state, order_by=per_record.c.seconds
        )
        ranked = select(per_record.c.to_state, per_record.c.seconds, tenth.label("tenth")).cte(
            "ranked"
        )
        return select(
            ranked.c.to_state,
            func.count().label("records"),
            func.avg(ranked.c.seconds).label("average"),
            func.max(case((ranked.c.tenth <= 9, ranked.c.seconds))).label("p90"),
        ).group_by(ranked.c.to_state)


def _hours(seconds) -> float | None:
    return None if seconds is None else round(float(seconds) / 3600, 2)
