"""How long applying a field addition takes on a table of a million rows.

Fills crm_customer with N rows in bulk, then applies the bundled CRM definition with one
more (optional) field, the way the studio and 'apploom apps apply' do: validate, plan,
ALTER TABLE, record the version, in one transaction. As the baseline, the same ALTER
TABLE ... ADD COLUMN alone on a copy of the table of the same size, in the same run.
Then makes the field required, filling every row (each gets a history entry), against
the bare UPDATE of the copy. Prints JSON with seconds and the ratios.

    python bench/studio.py [--orders N] [--pg URL]      (N: the rows; default 1,000,000)
"""

from __future__ import annotations

import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from records import fresh_runtime, run_on_both
from sqlalchemy import insert, text

from apploom.engine.definitions.loading import Source, bundled_sources
from apploom.plugins import install_definitions

CITY = "      city:     {type: text, label: {en: City, zh: 城市}, length: 60}\n"
REGION = CITY + "      region:   {type: text, label: {en: Region, zh: 区域}, length: 40}\n"
REQUIRED = REGION.replace("length: 40}", "length: 40, required: true}")


def fill(runtime, rows: int) -> None:
    table, engine = runtime.records.tables["crm_customer"], runtime.db.engine
    now = datetime.now(timezone.utc)
    user = runtime.users.get("bench_admin").id
    for start in range(0, rows, 20_000):
        with engine.begin() as conn:
            conn.execute(
                insert(table),
                [
                    {
                        "number": f"C-M{n:07d}",
                        "name": f"Customer {n}",
                        "kind": "person",
                        "tier": "standard",
                        "version": 1,
                        "created_at": now,
                        "updated_at": now,
                        "created_by": user,
                        "updated_by": user,
                    }
                    for n in range(start, min(start + 20_000, rows))
                ],
            )
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE bench_copy AS SELECT * FROM crm_customer"))


def measure(make_url_for, rows: int) -> dict:
    url, cleanup = make_url_for()
    with tempfile.TemporaryDirectory() as instance:
        runtime, _ = fresh_runtime(url, Path(instance))
        fill(runtime, rows)
        added = timed(
            runtime, "ALTER TABLE bench_copy ADD COLUMN region VARCHAR(40)", with_crm(REGION), {}
        )
        filled = timed(
            runtime,
            "UPDATE bench_copy SET region = 'north' WHERE region IS NULL",
            with_crm(REQUIRED),
            {"crm.customer:region": "north"},
        )
        runtime.close()
    cleanup()
    return {
        "rows": rows,
        "apply_s": added[0],
        "alter_table_s": added[1],
        "ratio": round(added[0] / added[1], 2),
        "fill_required_s": filled[0],
        "bare_update_s": filled[1],
        "fill_ratio": round(filled[0] / filled[1], 2),
    }


def with_crm(fields: str) -> list[Source]:
    return [
        Source(s.file, s.text.replace(CITY, fields)) if s.file.endswith("crm.yaml") else s
        for s in bundled_sources()
    ]


def timed(runtime, baseline_sql: str, sources: list[Source], fills: dict) -> tuple:
    """(seconds to apply ``sources`` as the studio does, seconds for the bare SQL)."""
    start = time.perf_counter()
    with runtime.db.engine.begin() as conn:
        conn.execute(text(baseline_sql))
    baseline = time.perf_counter() - start
    start = time.perf_counter()
    result = install_definitions(
        runtime.db, sources, runtime.settings, comment="bench", fills=fills
    )
    applied = time.perf_counter() - start
    assert "crm" in result.versions
    return round(applied, 3), round(baseline, 3)


if __name__ == "__main__":
    run_on_both(measure, __doc__.splitlines()[0], 1_000_000)
