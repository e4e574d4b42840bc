"""How long a 20-page batch of delivery notes takes to print, against WeasyPrint alone.

Creates N orders of 3 lines (each note one A4 page, with its barcodes and the tracking
QR code), then times the whole batch as the list's "Print selected" does it: gather the
records with the reader's rights, render the template in the sandbox, lay out the PDF.
The baseline, in the same run: WeasyPrint laying out the same HTML once more, the part
no print template can avoid. Also the same N notes printed one PDF at a time. A warm-up
print first loads the fonts. Prints JSON with seconds and the ratios.

    python bench/prints.py [--orders N] [--pg URL]      (default N: 20)
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from records import fresh_runtime, run_on_both

from apploom.printing.render import Printer


def pages(pdf: bytes) -> int | None:
    """The PDF's pages as pdfinfo (poppler-utils) counts them, where it is installed."""
    if not shutil.which("pdfinfo"):
        return None
    info = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True).stdout
    return int(re.search(rb"Pages:\s+(\d+)", info)[1])


def measure(make_url_for, orders: int) -> dict:
    url, drop = make_url_for()
    runtime, data = fresh_runtime(url, Path(tempfile.mkdtemp()) / "instance")
    try:
        admin = runtime.users.get("bench_admin")
        ids = [
            runtime.records.create(
                admin,
                "oms.order",
                {
                    "customer": data["customer"],
                    "ship_name": "李雷",
                    "ship_city": "杭州市",
                    "ship_address": "文三路 90 号",
                    "lines": [{"item": item, "qty": 2} for item in data["items"]],
                },
            )["id"]
            for _ in range(orders)
        ]
        printer = Printer(runtime)
        printer.pdf(admin, "oms.order", "delivery_note", ids[:1], "zh")  # fonts, templates

        began = time.perf_counter()
        records = runtime.prints.records_of(admin, "oms.order", ids, "zh")
        gathered = time.perf_counter()
        spec = runtime.prints.spec("oms.order", "delivery_note")
        html = printer.render(spec, "oms.order", records, "zh")
        rendered = time.perf_counter()
        pdf = printer.to_pdf(html)
        done = time.perf_counter()

        baseline_start = time.perf_counter()
        printer.to_pdf(html)
        baseline = time.perf_counter() - baseline_start

        single_start = time.perf_counter()
        for record_id in ids:
            printer.pdf(admin, "oms.order", "delivery_note", [record_id], "zh")
        one_by_one = time.perf_counter() - single_start
        batch = done - began
        return {
            "pages": pages(pdf),
            "bytes": len(pdf),
            "batch_seconds": round(batch, 3),
            "gather_seconds": round(gathered - began, 3),
            "template_seconds": round(rendered - gathered, 3),
            "layout_seconds": round(done - rendered, 3),
            "weasyprint_alone_seconds": round(baseline, 3),
            "batch_vs_weasyprint_alone": round(batch / baseline, 2),
            "one_pdf_per_order_seconds": round(one_by_one, 3),
            "one_by_one_vs_batch": round(one_by_one / batch, 2),
        }
    finally:
        runtime.close()
        drop()


if __name__ == "__main__":
    run_on_both(measure, __doc__.splitlines()[0], 20)
