"""What a workflow transition costs compared with a plain update of the same record.

For N draft orders (3 lines each), on fresh tables, one transaction per action:
  update      RecordService.update changing the note
  transition  Transitions.take('confirm'): role, state and condition checks, the change
              with its version check and history entry, and a row in the transition log
  baseline    a hand-written Core UPDATE of the status column
Prints JSON with actions/s and the ratios.

    python bench/workflow.py [--orders N] [--pg URL]
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from records import fresh_runtime, order_payload, run_on_both
from sqlalchemy import update


def measure(make_url_for, count: int) -> dict:
    url, cleanup = make_url_for()
    with tempfile.TemporaryDirectory() as instance:
        runtime, data = fresh_runtime(url, Path(instance))
        user = runtime.users.get("bench")
        ids = [
            runtime.records.create(user, "oms.order", order_payload(data, n))["id"]
            for n in range(3 * count + 30)
        ]
        chunks = [ids[i * count + 10 * i : (i + 1) * count + 10 * i + 10] for i in range(3)]
        table = runtime.records.tables["oms_order"]

        def plain(record_id: int) -> None:
            runtime.records.update(user, "oms.order", record_id, {"note": "urgent"}, version=1)

        def transition(record_id: int) -> None:
            runtime.transitions.take(user, "oms.order", record_id, "confirm")

        def baseline(record_id: int) -> None:
            with runtime.db.engine.begin() as conn:
                conn.execute(
                    update(table)
                    .where(table.c.id == record_id)
                    .values(status="confirmed", version=table.c.version + 1)
                )

        rates = {}
        for (name, action), chunk in zip(
            (("baseline", baseline), ("update", plain), ("transition", transition)),
            chunks,
            strict=True,
        ):
            for record_id in chunk[:10]:  # warm up
                action(record_id)
            start = time.perf_counter()
            for record_id in chunk[10:]:
                action(record_id)
            rates[name] = count / (time.perf_counter() - start)
        runtime.close()
    cleanup()
    return {
        "orders": count,
        "actions_per_s": {k: round(v, 1) for k, v in rates.items()},
        "transition_over_update": round(rates["update"] / rates["transition"], 2),
        "transition_over_baseline": round(rates["baseline"] / rates["transition"], 2),
        "update_over_baseline": round(rates["baseline"] / rates["update"], 2),
    }


if __name__ == "__main__":
    run_on_both(measure, __doc__.splitlines()[0], 300)
