"""The change pipeline: who hears of each change to a record, and in which order.

Every write of the record service (create, update, transition, delete) ends, inside its
transaction, by handing the :class:`Change` to each stage, in the order of ``STAGES``:

1. ``balances`` adds the change into the aggregate tables (聚合表) and refuses one that
   would break a balance's check (BalanceRefused). It runs first because rules read
   balances.
2. ``rules`` runs the automation rules the change triggers, plugin actions among them.
   Their writes go through the record service, and so through this pipeline again (the
   automation bounds the chain).

The contract of a stage: it is called with the transaction's connection and the change;
it may read and write through the record service; raising rolls back the whole user
action; it returns True when it may have changed the record, so the service reads the
record again before answering.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from sqlalchemy import Connection

if TYPE_CHECKING:
    from apploom.engine.records.service import Change

STAGES = ("balances", "rules")
Stage = Callable[[Connection, "Change"], bool]


class ChangePipeline:
    def __init__(self) -> None:
        self._stages: dict[str, Stage] = {}

    def attach(self, name: str, stage: Stage) -> None:
        if name not in STAGES:
            raise ValueError(
                f"'{name}' is not a stage of the change pipeline; "
                f"the stages are: {', '.join(STAGES)}"
            )
        if name in self._stages:
            raise ValueError(f"the change pipeline's '{name}' stage is attached already")
        self._stages[name] = stage

    def run(self, conn: Connection, change: Change) -> bool:
        """Hand the change to every attached stage in order; True if any acted."""
        acted = False
        for name in STAGES:
            stage = self._stages.get(name)
            if stage is not None and stage(conn, change):
                acted = True
        return acted
