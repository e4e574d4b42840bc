"""How long applying a field addition takes on a table of a million rows.

Fills crm_customer with N rows in bulk, then applies the bundled CRM definition with one
more (optional) field, the way the studio and 'apploom apps apply' do: validate, plan,
ALTER TABLE, record the version, in one transaction. As the baseline, the same ALTER
TABLE ... ADD COLUMN alone on a copy of the table of the same size, in the same run.
Prints JSON with seconds and the ratio.

    python bench/studio.py [--orders N] [--pg URL]      (N: the rows; default 1,000,000)
"""
from __future__ import annotations

import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from records import fresh_runtime, run_on_both
from sqlalchemy import insert, text

from apploom.engine.definitions import Source, bundled_sources
from apploom.plugins import install_definitions

CITY = "      city:     {type: text, label: {en: City, zh: 城市}, length: 60}\n"
REGION = CITY + "      region:   {type: text, label: {en: Region, zh: 区域}, length: 40}\n"


def fill(runtime, rows: int) -> None:
    table, engine = runtime.records.tables["crm_customer"], runtime.db.engine
    now = datetime.now(timezone.utc)
    user = runtime.users.get("bench_admin").id
    for start in range(0, rows, 20_000):
        with engine.begin() as conn:
            conn.execute(insert(table), [
                {"number": f"C-M{n:07d}", "name": f"Customer {n}", "kind": "person",
                 "tier": "standard", "version": 1, "created_at": now, "updated_at": now,
                 "created_by": user, "updated_by": user}
                for n in range(start, min(start + 20_000, rows))])
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE bench_copy AS SELECT * FROM crm_customer"))


def measure(make_url_for, rows: int) -> dict:
    url, cleanup = make_url_for()
    with tempfile.TemporaryDirectory() as instance:
        runtime, _ = fresh_runtime(url, Path(instance))
        fill(runtime, rows)
        sources = [Source(s.file, s.text.replace(CITY, REGION)) if s.file.endswith("crm.yaml")
                   else s for s in bundled_sources()]
        start = time.perf_counter()
        with runtime.db.engine.begin() as conn:
            conn.execute(text("ALTER TABLE bench_copy ADD COLUMN region VARCHAR(40)"))
        baseline = time.perf_counter() - start
        start = time.perf_counter()
        result = install_definitions(runtime.db, sources, runtime.settings,
                                     comment="add region")
        applied = time.perf_counter() - start
        assert "crm" in result.versions
        runtime.close()
    cleanup()
    return {"rows": rows, "apply_s": round(applied, 3), "alter_table_s": round(baseline, 3),
            "ratio": round(applied / baseline, 2)}


if __name__ == "__main__":
    run_on_both(measure, __doc__.splitlines()[0], 1_000_000)
