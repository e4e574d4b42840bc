"""The stock property test, run long: the state machine of tests/test_stock_machine.py
for thousands of examples on one database.

Examples run in rounds, each a Hypothesis run from a fresh random seed (the "stock-long"
profile: 50 steps an example), until --examples have run or --minutes have passed. A
round that finds a broken invariant stops the bench (--keep-going: the next round goes
on), and the failure is printed with the rule or invariant that failed and, with
--shrink, the shortest sequence of steps Hypothesis found for it. Prints JSON: examples
and engine calls run, the time they took, and the failures.

    python bench/stock_properties.py [--examples 2000] [--steps 50] [--minutes 15]
        [--database sqlite | --database postgresql] [--pg URL] [--shrink] [--keep-going]

PostgreSQL takes its URL from --pg or APPLOOM_TEST_DATABASE_URL.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test
from records import pg_urls, sqlite_urls

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers import make_runtime  # noqa: E402
from tests.test_stock_machine import SOURCES, Shop, StockMachine  # noqa: E402

ROUND = 100  # examples a Hypothesis run is asked for


class Counted(StockMachine):
    """The machine, counting its examples and engine calls."""

    examples = 0
    calls = 0

    def __init__(self, shop):
        Counted.examples += 1
        super().__init__(shop)

    def step(self, what):
        Counted.calls += 1
        return super().step(what)


def failures(error: BaseException, shrunk: bool) -> list[dict]:
    """What failed, where, and (shrunk) the steps that led there, without the invariant
    checks Hypothesis lists after every step."""
    found = []
    for exc in getattr(error, "exceptions", [error]):
        frames = traceback.extract_tb(exc.__traceback__)
        where = [f.name for f in frames if f.filename.endswith("test_stock_machine.py")]
        failure = {
            "where": where[-1] if where else None,
            "error": type(exc).__name__,
            "message": str(exc).splitlines()[0][:300] if str(exc) else "",
        }
        if shrunk:
            invariants = {
                name
                for name in dir(StockMachine)
                if hasattr(getattr(StockMachine, name), "hypothesis_stateful_invariant")
            }
            failure["steps"] = [
                line
                for note in getattr(exc, "__notes__", [])
                for line in note.splitlines()
                if not any(line.startswith(f"state.{name}(") for name in invariants)
            ]
        found.append(failure)
    return found


def run(url: str, args: argparse.Namespace) -> dict:
    profile = settings(
        settings.get_profile("stock-long"),
        max_examples=ROUND,
        stateful_step_count=args.steps,
        phases=list(Phase) if args.shrink else [Phase.generate],
    )
    with tempfile.TemporaryDirectory() as instance:
        runtime = make_runtime(url, Path(instance), SOURCES)
        shop = Shop(runtime)
        start, rounds, found = time.perf_counter(), 0, []
        deadline = start + 60 * args.minutes
        while Counted.examples < args.examples and time.perf_counter() < deadline:
            rounds += 1
            left = args.examples - Counted.examples
            try:
                run_state_machine_as_test(
                    lambda: Counted(shop), settings=settings(profile, max_examples=min(ROUND, left))
                )
            except BaseException as error:  # an invariant broke (or Hypothesis gave up)
                if isinstance(error, KeyboardInterrupt):
                    raise
                found += [{"round": rounds, **f} for f in failures(error, args.shrink)]
                if not args.keep_going:
                    break
        seconds = time.perf_counter() - start
        runtime.close()
    return {
        "examples": Counted.examples,
        "steps_per_example": args.steps,
        "engine_calls": Counted.calls,
        "rounds": rounds,
        "seconds": round(seconds, 1),
        "examples_per_s": round(Counted.examples / seconds, 2),
        "result": "failed" if found else "passed",
        "failures": found,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--minutes", type=float, default=15)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--pg", default=os.environ.get("APPLOOM_TEST_DATABASE_URL"))
    parser.add_argument("--shrink", action="store_true")
    parser.add_argument("--keep-going", action="store_true")
    args = parser.parse_args()
    if args.database == "postgresql" and not args.pg:
        parser.error("PostgreSQL needs --pg URL or APPLOOM_TEST_DATABASE_URL")
    make = sqlite_urls() if args.database == "sqlite" else pg_urls(args.pg)
    url, cleanup = make()
    try:
        result = {"database": args.database, **run(url, args)}
    finally:
        cleanup()
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
