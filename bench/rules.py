"""What automation costs: evaluating a condition in the sandbox, and a rule run per record.

condition   sandbox.evaluate of a cached condition, against the same test written
            as a Python lambda (the floor)
rule run    creating N records whose entity has a rule (condition + set field + notify)
            against creating them with no rule, on fresh SQLite tables

  python bench/rules.py [--records N]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from records import fresh_runtime

from apploom.engine.definitions.loading import Source, bundled_sources
from apploom.engine.expressions.sandbox import Row, evaluate
from apploom.engine.fields.registry import FieldTypes
from apploom.engine.runtime import Runtime
from apploom.engine.versions.install import apply_definitions

CONDITION = "total > 100 and channel in ['web', 'store'] and len(lines) > 0"
TICKETS = """
app: desk
roles: [agent]
permissions: {agent: all}
entities:
  ticket:
    fields:
      subject:  {type: text}
      priority: {type: integer, default: 1}
      flagged:  {type: boolean, default: false}
    RULES
"""
RULE = """rules:
      - name: urgent
        on: created
        if: "priority >= 3"
        do:
          - set: {flagged: "True"}
          - notify: {roles: [agent], message: "Urgent: {subject}"}"""


def conditions(count: int) -> dict:
    names = {"total": Decimal("120.50"), "channel": "web", "lines": [Row({"qty": 1})]}
    floor = eval("lambda total, channel, lines: " + CONDITION)  # noqa: S307 - our own text
    start = time.perf_counter()
    for _ in range(count):
        floor(**names)
    python = (time.perf_counter() - start) / count
    evaluate(CONDITION, names)  # compile once; later calls hit the cache
    start = time.perf_counter()
    for _ in range(count):
        evaluate(CONDITION, names)
    sandboxed = (time.perf_counter() - start) / count
    return {
        "python_us": round(python * 1e6, 2),
        "sandbox_us": round(sandboxed * 1e6, 2),
        "sandbox_over_python": round(sandboxed / python, 1),
    }


def creates(rules: str, count: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.db"
        runtime, _ = fresh_runtime(url, Path(folder))
        apply_definitions(
            runtime.db,
            bundled_sources() + [Source("desk.yaml", TICKETS.replace("RULES", rules))],
            FieldTypes(),
        )
        runtime.close()
        runtime = Runtime.open(runtime.settings)
        user = runtime.users.create("agent1", ["agent"], "bench-password")
        start = time.perf_counter()
        for n in range(count):
            runtime.records.create(user, "desk.ticket", {"subject": f"t{n}", "priority": 3})
        seconds = time.perf_counter() - start
        runtime.close()
    return seconds / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=300)
    args = parser.parse_args()
    plain, ruled = creates("", args.records), creates(RULE, args.records)
    print(
        json.dumps(
            {
                "condition": conditions(20_000),
                "rule_run": {
                    "records": args.records,
                    "create_ms": round(plain * 1000, 3),
                    "create_with_rule_ms": round(ruled * 1000, 3),
                    "rule_run_ms": round((ruled - plain) * 1000, 3),
                    "with_rule_over_without": round(ruled / plain, 2),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
