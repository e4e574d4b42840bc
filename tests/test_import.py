"""Importing orders from CSV and Excel: mapping, refs by key, dry run, bad rows with their
reasons, no duplicates on a second import, jobs with progress."""

from __future__ import annotations

import io
import json
import time
import tracemalloc
import zipfile
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import update

from apploom.engine.access.permissions import SYSTEM_USER
from apploom.engine.errors import ValidationFailed
from apploom.engine.imports.service import Options
from apploom.engine.imports.spreadsheets import MAX_COLUMNS, read_head, read_table
from apploom.engine.imports.templates import template_header
from apploom.engine.jobs.progress import Progress, TakenOver
from apploom.engine.jobs.service import ACTIVE
from apploom.engine.query.filters import Query
from apploom.engine.storage.system_tables import sys_job
from apploom.web import create_app
from tests.helpers import Api, browser, finished, silence

ORDERS_CSV = """外部单号,渠道,客户邮箱,下单时间,SKU,数量,单价
TB-1,电商平台,zs@example.com,2026-11-01 09:30,CUP-1,2,12.50
TB-1,电商平台,zs@example.com,2026-11-01 09:30,POT-1,1,268.00
TB-2,Web shop,zs@example.com,2026-11-02 00:15,CUP-1,1,12.50
"""
MAPPING = {
    "外部单号": "external_id",
    "渠道": "channel",
    "客户邮箱": "customer.email",
    "下单时间": "ordered_at",
    "SKU": "lines.item.sku",
    "数量": "lines.qty",
    "单价": "lines.price",
}


def run(rt, text, mapping=MAPPING, name="orders.csv", **options):
    header, rows = read_table(name, text.encode() if isinstance(text, str) else text)
    return rt.imports.importer.run(SYSTEM_USER, "oms.order", header, rows, mapping, **options)


def orders(rt):
    return rt.records.list(SYSTEM_USER, "oms.order").data


def test_rows_become_orders_with_lines_refs_found_by_key(runtime, shop):
    report = run(runtime, ORDERS_CSV)
    assert (report.records, report.created, report.existing, report.errors) == (2, 2, 0, [])
    by_id = {o["external_id"]: o for o in orders(runtime)}
    first = runtime.records.get(SYSTEM_USER, "oms.order", by_id["TB-1"]["id"])
    assert first["channel"] == "marketplace" and first["customer"] == shop.customer["id"]
    assert [(line["item"], line["qty"]) for line in first["lines"]] == [
        (shop.cup["id"], 2),
        (shop.pot["id"], 1),
    ]
    assert first["total"] == "293.00"
    assert by_id["TB-2"]["channel"] == "web"


def test_a_line_without_a_price_takes_its_items(runtime, shop):
    """The price came only from the file; an empty cell now takes the item's price."""
    text = (
        "外部单号,客户邮箱,SKU,数量,单价\n"
        "TB-9,zs@example.com,POT-1,1,\n"  # no price: the item's
        "TB-9,zs@example.com,CUP-1,2,9.90\n"
    )
    mapping = {k: MAPPING[k] for k in ("外部单号", "客户邮箱", "SKU", "数量", "单价")}
    report = run(runtime, text, mapping)
    assert (report.created, report.errors) == (1, [])
    order = runtime.records.get(SYSTEM_USER, "oms.order", orders(runtime)[0]["id"])
    assert [line["price"] for line in order["lines"]] == ["268.00", "9.90"]


def test_a_dry_run_checks_everything_and_writes_nothing(runtime, shop):
    report = run(runtime, ORDERS_CSV, dry_run=True, then="confirm")
    assert (report.created, report.errors, report.dry_run) == (2, [], True)
    assert orders(runtime) == []
    assert (
        runtime.balances.read("stock", item=shop.cup["id"], warehouse=shop.warehouse["id"])[
            "reserved"
        ]
        == 0
    )


def test_importing_twice_never_duplicates(runtime, shop):
    run(runtime, ORDERS_CSV)
    again = run(runtime, ORDERS_CSV + "TB-3,门店,zs@example.com,2026-11-03,POT-1,1,268\n")
    assert (again.records, again.created, again.existing) == (3, 1, 2)
    assert len(orders(runtime)) == 3


def test_bad_rows_are_listed_with_row_column_and_reason_and_the_rest_imported(runtime, shop):
    text = ORDERS_CSV + (
        "TB-4,电商平台,zs@example.com,2026-11-03,NOPE-9,1,5\n"  # unknown SKU
        "TB-5,电商平台,zs@example.com,2026-11-03,CUP-1,two,5\n"  # not a number
        "TB-6,carrier pigeon,zs@example.com,2026-11-03,CUP-1,1,5\n"  # not a channel
        "TB-7,电商平台,nobody@example.com,2026-11-31,CUP-1,1,5\n"
    )  # no such customer, date
    report = run(runtime, text)
    assert report.created == 2
    problems = {(e["row"], e["column"]): e["message"] for e in report.errors}
    assert problems[(5, "SKU")] == "there is no Item with sku 'NOPE-9'"
    assert problems[(6, "数量")].startswith("must be a whole number")
    assert "'carrier pigeon' is not an option" in problems[(7, "渠道")]
    assert problems[(8, "客户邮箱")] == "there is no Customer with email 'nobody@example.com'"
    assert len(orders(runtime)) == 2


def test_a_rule_refusing_a_record_is_reported_for_its_row(runtime, shop):
    text = "外部单号,渠道,客户邮箱,SKU,数量,单价\nTB-8,web,zs@example.com,CUP-1,1,1\n"
    mapping = {k: v for k, v in MAPPING.items() if k != "下单时间"}
    report = run(runtime, text, mapping, then="pick")  # picking needs a confirmed order
    assert report.created == 0
    assert report.errors[0]["row"] == 2 and "cannot be taken while" in report.errors[0]["message"]


def test_excel_files_and_chinese_csv_encodings_read_alike(runtime, shop):
    book = Workbook()
    sheet = book.active
    for line in ORDERS_CSV.strip().splitlines():
        sheet.append(line.split(","))
    sheet["F2"].value = 2  # numbers arrive as numbers
    data = io.BytesIO()
    book.save(data)
    assert read_table("orders.xlsx", data.getvalue()) == read_table(
        "orders.csv", ORDERS_CSV.replace(",", ";").encode("gb18030")
    )
    assert run(runtime, data.getvalue(), name="orders.xlsx").created == 2


def test_the_first_mapping_is_guessed_from_names_and_labels(runtime):
    importer = runtime.imports.importer
    order = runtime.records.entity("oms.order")
    header = [
        "External order id",
        "渠道",
        "customer.email",
        "Items › Item › SKU",
        "数量",
        "whatever",
    ]
    assert importer.guess(order, header) == {
        "External order id": "external_id",
        "渠道": "channel",
        "customer.email": "customer.email",
        "Items › Item › SKU": "lines.item.sku",
        "数量": "lines.qty",
    }


def test_a_bad_mapping_names_each_column(runtime):
    with pytest.raises(ValidationFailed) as caught:
        run(
            runtime,
            ORDERS_CSV,
            {"渠道": "channel", "SKU": "lines.item.colour", "数量": "channel", "Missing": "note"},
        )
    assert caught.value.fields == {
        "SKU": "'lines.item.colour' is not something a column can fill",
        "数量": "'channel' is filled by two columns",
        "Missing": "is not a column of the file",
    }


def test_an_import_job_reports_progress_and_its_outcome(runtime, shop):
    lines = [f"WEB-{n},web,zs@example.com,2026-11-01,CUP-1,1,12.50" for n in range(250)]
    text = ORDERS_CSV.splitlines()[0] + "\n" + "\n".join(lines) + "\n"
    jobs = runtime.imports
    job = jobs.upload(SYSTEM_USER, "oms.order", "big.csv", io.BytesIO(text.encode()))
    assert job["header"][0] == "外部单号" and len(job["sample"]) == 3
    jobs.start(SYSTEM_USER, job["id"], MAPPING, dry_run=False)
    deadline = time.monotonic() + 60
    while (job := jobs.get(SYSTEM_USER, job["id"]))["status"] in ACTIVE:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert job["status"] == "done" and job["done"] == job["total"] == 250
    assert job["report"]["records"] == job["report"]["created"] == 250
    assert runtime.records.list(SYSTEM_USER, "oms.order").total == 250


def wait_for(jobs, job_id):
    deadline = time.monotonic() + 60
    while (job := jobs.get(SYSTEM_USER, job_id))["status"] in ACTIVE:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return job


def test_the_import_screens_map_dry_run_then_import(runtime, shop):
    runtime.users.create("sue", ["sales"], "password1234")
    screens = browser(create_app(runtime=runtime), "sue")
    assert "/a/oms/order/import" in screens.get("/a/oms/order").get_data(as_text=True)
    refused = screens.post(
        "/a/oms/order/import",
        {"file": (io.BytesIO(b"x"), "notes.pdf")},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 422 and "must be a .csv or .xlsx file" in refused.get_data(
        as_text=True
    )
    uploaded = screens.post(
        "/a/oms/order/import",
        {"file": (io.BytesIO(ORDERS_CSV.encode()), "orders.csv")},
        content_type="multipart/form-data",
    )
    job_url = uploaded.headers["Location"]
    page = screens.get(job_url).get_data(as_text=True)
    assert 'value="customer.email" selected' in page and "TB-1 · TB-1 · TB-2" in page
    form = {
        "map-0": "external_id",
        "map-1": "channel",
        "map-2": "customer.email",
        "map-4": "lines.item.sku",
        "map-5": "lines.qty",
        "map-6": "lines.price",
        "then": "confirm",
    }
    assert screens.post(job_url, {**form, "run": "dry"}).status_code == 303
    job_id = int(job_url.rsplit("/", 1)[1])
    assert wait_for(runtime.imports, job_id)["report"]["created"] == 2
    assert "Dry run" in screens.get(job_url).get_data(as_text=True)
    assert orders(runtime) == []
    screens.post(job_url, {**form, "run": "import"})
    assert wait_for(runtime.imports, job_id)["report"]["created"] == 2
    assert {o["status"] for o in orders(runtime)} == {"confirmed"}
    bad = screens.post(job_url, {**form, "map-3": "lines.colour", "run": "import"})
    assert bad.status_code == 422 and "is not something a column can fill" in bad.get_data(
        as_text=True
    )


def test_a_record_without_child_rows_is_one_row_each(runtime):
    runtime.users.create("sue", ["sales"], "password1234")
    api = Api(create_app(runtime=runtime).test_client(), runtime.users.create_token("sue"))
    text = "联系人,公司,城市\n王五,杭州茶庄,杭州\n王五,杭州茶庄,杭州\n李四,,上海\n"
    sent = api.post(
        "/api/v1/crm/lead/import",
        data={"file": (io.BytesIO(text.encode()), "leads.csv")},
        content_type="multipart/form-data",
    )
    report = finished(api, sent)["outcome"]
    assert (report["records"], report["created"]) == (3, 3)  # no key: alike is fine
    leads = runtime.records.list(SYSTEM_USER, "crm.lead").data
    assert sorted((lead["name"], lead["city"]) for lead in leads) == [
        ("李四", "上海"),
        ("王五", "杭州"),
        ("王五", "杭州"),
    ]


def test_the_api_imports_a_file_with_the_guessed_mapping(runtime, shop):
    runtime.users.create("sue", ["sales"], "password1234")
    api = Api(create_app(runtime=runtime).test_client(), runtime.users.create_token("sue"))
    text = (
        "External order id,Channel,Customer › Email,Items › Item › SKU,Items › Quantity,"
        "Items › Unit price\nAPI-1,web,zs@example.com,CUP-1,1,12.50\n"
    )
    sent = api.post(
        "/api/v1/oms/order/import",
        data={"file": (io.BytesIO(text.encode()), "o.csv"), "dry_run": "true"},
        content_type="multipart/form-data",
    )
    report = finished(api, sent)["outcome"]
    assert report["created"] == 1 and report["dry_run"] is True
    assert report["mapping"]["Items › Item › SKU"] == "lines.item.sku"
    assert orders(runtime) == []
    done = api.post(
        "/api/v1/oms/order/import",
        data={"file": (io.BytesIO(text.encode()), "o.csv"), "then": "confirm"},
        content_type="multipart/form-data",
    )
    assert finished(api, done)["outcome"]["created"] == 1
    assert orders(runtime)[0]["status"] == "confirmed"
    wrong = api.post(
        "/api/v1/oms/order/import",
        data={"file": (io.BytesIO(text.encode()), "o.csv"), "mapping": '{"Channel": "nope"}'},
        content_type="multipart/form-data",
    )
    assert wrong.status_code == 422
    assert wrong.json["error"]["fields"] == {"Channel": "'nope' is not something a column can fill"}


def test_an_import_runs_once_at_a_time(runtime):
    jobs = runtime.imports
    job = jobs.upload(SYSTEM_USER, "oms.order", "o.csv", io.BytesIO(ORDERS_CSV.encode()))
    with runtime.db.write() as conn:  # a run going on in some worker
        conn.execute(
            update(sys_job)
            .where(sys_job.c.id == job["id"])
            .values(status="running", beat_at=datetime.now(timezone.utc))
        )
    with pytest.raises(ValidationFailed, match="import"):  # a double click
        jobs.start(SYSTEM_USER, job["id"], MAPPING, dry_run=False)
    assert runtime.jobs.resume_stale() == 0  # it is alive: nobody takes it over


class Died(BaseException):
    """The process running the import ends (a restart, a kill)."""


def test_an_import_whose_process_died_is_taken_up_after_its_last_batch(runtime, monkeypatch):
    """Leads have no unique key, so only the resume point keeps them from doubling."""
    text = "Name,City,Source\n" + "".join(
        f"Lead {n},上海,{'fax' if n == 200 else 'web'}\n" for n in range(250)
    )
    jobs, ann = runtime.imports, runtime.users.create("ann", ["sales"], "password1234")
    job = jobs.upload(ann, "crm.lead", "leads.csv", io.BytesIO(text.encode()))
    create_in, made = runtime.records.create_in, []

    def dies_at_the_150th(conn, user, entity, data):
        if len(made) == 149:
            raise Died
        made.append(data["name"])
        return create_in(conn, user, entity, data)

    monkeypatch.setattr(runtime.records, "create_in", dies_at_the_150th)
    with pytest.raises(Died):
        jobs.start(
            ann,
            job["id"],
            {"Name": "name", "City": "city", "Source": "source"},
            dry_run=False,
            wait=True,
        )
    monkeypatch.setattr(runtime.records, "create_in", create_in)
    stalled = jobs.get(ann, job["id"])
    assert (stalled["status"], stalled["done"], stalled["report"]["after_row"]) == (
        "running",
        100,
        101,
    )  # the first batch committed, not the 2nd
    assert runtime.jobs.resume_stale() == 0  # silent, but not for long yet
    silence(runtime, job["id"])
    assert runtime.jobs.resume_stale(wait=True) == 1
    finished = jobs.get(ann, job["id"])
    assert finished["status"] == "done" and finished["report"]["created"] == 249
    assert [e["row"] for e in finished["report"]["errors"]] == [202]  # counted once
    leads = runtime.records.list(SYSTEM_USER, "crm.lead", Query(limit=500)).data
    assert sorted(lead["name"] for lead in leads) == sorted(
        f"Lead {n}" for n in range(250) if n != 200
    )


def test_a_runner_thought_dead_stops_when_another_took_the_import_over(runtime):
    job = runtime.imports.upload(
        SYSTEM_USER, "crm.lead", "l.csv", io.BytesIO("Name\nAn\n".encode())
    )
    with runtime.db.write() as conn:
        conn.execute(update(sys_job).where(sys_job.c.id == job["id"]).values(status="running"))
    slow, taker = Progress(runtime.db, job["id"], 0), Progress(runtime.db, job["id"], 0)
    with runtime.db.write() as conn:
        taker.commit(conn, 100, 200, {"after_row": 101})
    with pytest.raises(TakenOver), runtime.db.write() as conn:
        slow.commit(conn, 100, 200, {"after_row": 101})


def test_a_file_wider_than_the_column_limit_is_refused_in_bounded_memory():
    wide = (",".join(f"c{i}" for i in range(20_000)) + "\n" + "1\n" * 20_000).encode()
    book = Workbook()
    book.active.append([f"c{i}" for i in range(MAX_COLUMNS + 50)])
    xlsx = io.BytesIO()
    book.save(xlsx)
    for name, data in (("wide.csv", wide), ("wide.xlsx", xlsx.getvalue())):
        tracemalloc.start()
        try:
            with pytest.raises(ValidationFailed) as caught:
                read_table(name, data)
            assert tracemalloc.get_traced_memory()[1] < 20 * 1024 * 1024
        finally:
            tracemalloc.stop()
        assert caught.value.fields == {
            "file": "has more than 200 columns; at most 200 can be imported"
        }


def test_rows_are_not_padded_to_the_width_a_sheet_claims():
    """A few cells, but a sheet whose last cell is in column XFD: openpyxl pads each row it
    streams to that width, and padding 5,000 rows used to take gigabytes."""
    book = Workbook()
    sheet = book.active
    sheet.append(["sku", "qty"])
    for number in range(5_000):
        sheet.append([f"S-{number}"])
    sheet.cell(row=3, column=16_384).value = " "
    data = io.BytesIO()
    book.save(data)
    tracemalloc.start()
    try:
        header, rows = read_table("stock.xlsx", data.getvalue())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert header == ["sku", "qty"] and len(rows) == 5_000
    assert rows[0] == ["S-0", ""] and max(len(row) for row in rows) == 2
    assert peak < 50 * 1024 * 1024
    assert read_table("short.csv", b"sku,qty,note\nS-1\nS-2,3\n") == (
        ["sku", "qty", "note"],
        [["S-1"], ["S-2", "3"]],
    )


def test_a_workbook_that_does_not_state_its_size_is_checked_by_its_first_rows_alone():
    """openpyxl read such a sheet through to its end just to open it (20 s for a 10 MB
    file, while the upload waited). Past the first rows this one is damaged: the check
    by the header never reads that far; the import reads it all, and says so."""
    book = Workbook(write_only=True)  # writes no <dimension>, as some exporters do
    sheet = book.create_sheet()
    for number in range(50):
        sheet.append(["sku", "qty"] if number == 0 else [f"S-{number}", number])
    written = io.BytesIO()
    book.save(written)
    damaged = io.BytesIO()
    with zipfile.ZipFile(written) as source, zipfile.ZipFile(damaged, "w") as copy:
        for name in source.namelist():
            part = source.read(name)
            if name.startswith("xl/worksheets/"):
                part = part.replace(b'<row r="40"', b'<row r="40"<')
            copy.writestr(name, part)
    assert read_head("stock.xlsx", damaged.getvalue(), 3) == (
        ["sku", "qty"],
        [["S-1", "1"], ["S-2", "2"], ["S-3", "3"]],
    )
    with pytest.raises(ValidationFailed) as caught:
        read_table("stock.xlsx", damaged.getvalue())
    assert caught.value.fields["file"].startswith("is not a readable Excel file")


def test_an_imported_record_with_more_rows_than_its_table_holds_is_refused(runtime, shop):
    line = "TB-9,Web shop,zs@example.com,2026-11-01,CUP-1,1,12.50\n"
    report = run(runtime, ORDERS_CSV.splitlines()[0] + "\n" + line * 501)
    assert (report.records, report.created) == (1, 0)
    assert [e["message"] for e in report.errors] == ["lines: has 501 rows; at most 500 are allowed"]


def test_a_shops_export_brings_its_ship_to_and_money_under_chinese_headers(runtime, shop):
    """A web shop's order export with Chinese headers: the whole mapping is guessed from
    the labels, the address and fees come in, prices from the catalogue, tax inside."""
    text = (
        "外部单号,客户邮箱,收货人,收货电话,省份,城市,区县,详细地址,运费,整单优惠,商品编码,数量,优惠\n"
        "TB-9,zs@example.com,李四,13900001111,浙江省,杭州市,余杭区,文一西路 969 号,8.00,5.00,"
        "CUP-1,2,1.00\n"
        "TB-9,zs@example.com,李四,13900001111,浙江省,杭州市,余杭区,文一西路 969 号,8.00,5.00,"
        "POT-1,1,\n"
    )
    header, rows = read_table("export.csv", text.encode())
    guessed = runtime.imports.importer.guess(runtime.records.entity("oms.order"), header)
    assert guessed == {
        "外部单号": "external_id",
        "客户邮箱": "customer.email",
        "收货人": "ship_name",
        "收货电话": "ship_phone",
        "省份": "ship_province",
        "城市": "ship_city",
        "区县": "ship_district",
        "详细地址": "ship_address",
        "运费": "shipping_fee",
        "整单优惠": "discount",
        "数量": "lines.qty",
        "商品编码": "lines.item.sku",
        "优惠": "lines.discount",
    }
    assert run(runtime, text, guessed).created == 1
    [order] = orders(runtime)
    order = runtime.records.get(SYSTEM_USER, "oms.order", order["id"])
    assert (order["ship_name"], order["ship_city"], order["ship_district"]) == (
        "李四",
        "杭州市",
        "余杭区",
    )
    assert str(order["subtotal"]) == "292.00"  # 2 × 12.50 − 1.00 + 268.00, catalogue prices
    assert str(order["total"]) == "295.00"  # less 5.00 off, plus 8.00 shipping, tax inside


SAMPLES = Path(__file__).parent / "samples"
SHOPIFY_MAPPING = {
    "Name": "external_id",
    "Email": "customer.email",
    "Billing Name": "customer.name",
    "Created at": "ordered_at",
    "Currency": "currency",
    "Shipping": "shipping_fee",
    "Discount Amount": "discount",
    "Lineitem quantity": "lines.qty",
    "Lineitem price": "lines.price",
    "Lineitem sku": "lines.item.sku",
    "Lineitem discount": "lines.discount",
    "Shipping Name": "ship_name",
    "Shipping Address1": "ship_address",
    "Shipping City": "ship_city",
    "Shipping Zip": "ship_postcode",
    "Shipping Province Name": "ship_province",
    "Shipping Country": "ship_country",
    "Shipping Phone": "ship_phone",
}


def full(rt, order):
    return rt.records.get(SYSTEM_USER, "oms.order", order["id"])


def test_a_shopify_export_with_continuation_rows_is_one_order_per_order_id(runtime, shop):
    """Shopify's own export: an order's later rows repeat only Name and Email with the
    line cells. Customers are found by email in any case, or created from Billing Name;
    the totals come out as the file's Total column says."""
    data = (SAMPLES / "shopify-orders-export.csv").read_bytes()
    header, rows = read_table("orders_export.csv", data)
    assert len(header) == 79 and len(rows) == 5
    report = run(
        runtime,
        data,
        SHOPIFY_MAPPING,
        constants={"channel": "线上商城"},
        create=["customer"],
    )
    assert (report.records, report.created, report.errors) == (3, 3, [])
    by_id = {o["external_id"]: full(runtime, o) for o in orders(runtime)}
    assert sorted(by_id) == ["#1001", "#1002", "#1003"]
    first = by_id["#1001"]
    assert first["customer"] == shop.customer["id"]  # ZS@Example.com
    assert [(line["item"], line["qty"]) for line in first["lines"]] == [
        (shop.cup["id"], 2),
        (shop.pot["id"], 1),
    ]
    assert (first["channel"], first["ordered_at"]) == ("web", "2024-05-01T04:30:00Z")
    assert (first["ship_city"], first["ship_province"], first["ship_phone"]) == (
        "上海市",
        "Shanghai",
        "+86 139 0000 1111",
    )
    totals = {name: (o["total"], len(o["lines"])) for name, o in by_id.items()}
    assert totals == {"#1001": ("303.00", 2), "#1002": ("32.50", 1), "#1003": ("290.50", 2)}
    new = runtime.records.get(SYSTEM_USER, "crm.customer", by_id["#1002"]["customer"])
    assert (new["name"], new["email"]) == ("李四", "li.si@example.com")
    assert by_id["#1003"]["customer"] == shop.customer["id"]
    assert runtime.records.list(SYSTEM_USER, "crm.customer").total == 3
    again = run(runtime, data, SHOPIFY_MAPPING, constants={"channel": "web"}, create=["customer"])
    assert (again.created, again.existing) == (0, 3)  # channel + Name: already there


TAOBAO_MAPPING = {
    "订单编号": "external_id",
    "买家会员名": "customer.name",
    "联系手机": "customer.phone",
    "收货人姓名": "ship_name",
    "收货地址": "ship_address",
    "订单付款时间": "ordered_at",
    "买家应付邮费": "shipping_fee",
    "商家编码": "lines.item.sku",
    "价格": "lines.price",
    "购买数量": "lines.qty",
}


def test_a_taobao_export_finds_buyers_by_phone_and_creates_the_missing_ones(runtime, shop):
    """Taobao's order report (GB18030), one row per line: buyers are found by their
    phone however it was typed, or created under their member name."""
    runtime.records.update(
        SYSTEM_USER, "crm.customer", shop.customer["id"], {"phone": "139 0000-1111"}, version=1
    )
    data = (SAMPLES / "taobao-orders-export.csv").read_bytes()
    report = run(
        runtime,
        data,
        TAOBAO_MAPPING,
        name="ExportOrderList202405.csv",
        constants={"channel": "marketplace"},
        create=["customer"],
        then="confirm",
    )
    assert (report.records, report.created, report.errors) == (2, 2, [])
    by_id = {o["external_id"]: full(runtime, o) for o in orders(runtime)}
    first, second = by_id["3858412233016547321"], by_id["3861127745082219003"]
    assert first["customer"] == shop.customer["id"]
    assert (first["total"], first["status"], first["channel"]) == (
        "293.00",
        "confirmed",
        "marketplace",
    )
    assert first["ordered_at"] == "2024-05-01T04:30:41Z"  # Beijing time, stored in UTC
    buyer = runtime.records.get(SYSTEM_USER, "crm.customer", second["customer"])
    assert (buyer["name"], buyer["phone"]) == ("晴天小雨", "13700003333")
    assert (second["total"], second["ship_name"], second["ship_phone"]) == (
        "276.00",
        "王五",
        "13700003333",
    )


def test_a_later_row_that_disagrees_with_its_record_is_reported(runtime, shop):
    text = (
        "外部单号,客户邮箱,下单时间,SKU,数量\n"
        "TB-1,zs@example.com,2024-05-01 12:30,CUP-1,1\n"
        ",,,POT-1,1\n"  # blank: the same order
        "TB-1,other@example.com,,CUP-1,3\n"  # its key: the same order, but another customer
        "TB-2,zs@example.com,2024-05-02,POT-1,1\n"
    )
    mapping = {k: MAPPING[k] for k in ("外部单号", "客户邮箱", "下单时间", "SKU", "数量")}
    report = run(runtime, text, mapping)
    assert (report.records, report.created) == (2, 1)
    assert report.errors == [
        {
            "row": 4,
            "column": "客户邮箱",
            "message": "is 'other@example.com' here but 'zs@example.com' in row 2 "
            "of the same record",
        }
    ]
    assert [o["external_id"] for o in orders(runtime)] == ["TB-2"]


@pytest.mark.parametrize(
    "text, moment",
    [
        ("2024/05/01 12:30:00", "2024-05-01T04:30:00Z"),
        ("2024-05-01 12:30", "2024-05-01T04:30:00Z"),
        ("2024-05-01T12:30:00+08:00", "2024-05-01T04:30:00Z"),
        ("2024-05-01T04:30:00Z", "2024-05-01T04:30:00Z"),
        ("2024-05-01 12:30:00 -0400", "2024-05-01T16:30:00Z"),
        ("2024年5月1日", "2024-04-30T16:00:00Z"),
        ("2024年5月1日 9:05", "2024-05-01T01:05:00Z"),
        ("20240501", "2024-04-30T16:00:00Z"),
        ("2024.5.1", "2024-04-30T16:00:00Z"),
    ],
)
def test_date_times_as_shops_write_them_are_on_the_business_clock(runtime, shop, text, moment):
    csv_text = f'外部单号,客户邮箱,下单时间,SKU\nTB-1,zs@example.com,"{text}",CUP-1\n'
    mapping = {k: MAPPING[k] for k in ("外部单号", "客户邮箱", "下单时间", "SKU")}
    assert run(runtime, csv_text, mapping).errors == []
    assert orders(runtime)[0]["ordered_at"] == moment


def test_days_and_amounts_as_shops_write_them(runtime, shop):
    """Amounts with their currency (in both the order's and the lines' cells), days of
    every common shape, and the cell a bad one is in."""
    text = (
        "外部单号,客户邮箱,下单时间,运费,整单优惠,SKU,数量,单价\n"
        'TB-1,zs@example.com,2024/05/01,￥10.00,¥5,CUP-1,2,"￥1,088.00"\n'
        "TB-1,,,,,POT-1,1,1088.00 CNY\n"
        "TB-2,zs@example.com,2024-05-02,$12.50,0,CUP-1,1,99元\n"
        "TB-3,zs@example.com,2024/13/01,0,0,CUP-1,1,1\n"
        'TB-4,zs@example.com,2024-05-04,0,0,CUP-1,1,"12,50"\n'
    )
    mapping = {
        **{k: MAPPING[k] for k in ("外部单号", "客户邮箱", "下单时间", "SKU", "数量", "单价")},
        "运费": "shipping_fee",
        "整单优惠": "discount",
    }
    report = run(runtime, text, mapping)
    assert report.created == 2
    problems = {(e["row"], e["column"]): e["message"] for e in report.errors}
    assert problems == {
        (5, "下单时间"): "must be a date and time like 2026-01-31T14:30:00Z",
        (6, "单价"): "must be a number",
    }
    by_id = {o["external_id"]: full(runtime, o) for o in orders(runtime)}
    first = by_id["TB-1"]
    assert [line["price"] for line in first["lines"]] == ["1088.00", "1088.00"]
    assert (first["shipping_fee"], first["discount"], first["total"]) == (
        "10.00",
        "5.00",
        "3269.00",
    )
    assert (by_id["TB-2"]["shipping_fee"], by_id["TB-2"]["lines"][0]["price"]) == ("12.50", "99.00")
    assert first["ordered_at"] == "2024-04-30T16:00:00Z"  # the day's start, in Shanghai


def test_excel_date_and_date_time_cells_import_as_the_moments_they_show(runtime, shop):
    book = Workbook()
    sheet = book.active
    sheet.append(["外部单号", "客户邮箱", "下单时间", "SKU", "单价"])
    sheet.append(["X-1", "zs@example.com", datetime(2024, 5, 1, 12, 30), "CUP-1", 1088])
    sheet.append(["X-2", "zs@example.com", date(2024, 5, 2), "CUP-1", 12.5])
    sheet["C3"].number_format = "yyyy/m/d"
    data = io.BytesIO()
    book.save(data)
    mapping = {k: MAPPING[k] for k in ("外部单号", "客户邮箱", "下单时间", "SKU", "单价")}
    report = run(runtime, data.getvalue(), mapping, name="orders.xlsx")
    assert (report.created, report.errors) == (2, [])
    by_id = {o["external_id"]: full(runtime, o) for o in orders(runtime)}
    assert by_id["X-1"]["ordered_at"] == "2024-05-01T04:30:00Z"
    assert by_id["X-2"]["ordered_at"] == "2024-05-01T16:00:00Z"
    assert (by_id["X-1"]["lines"][0]["price"], by_id["X-2"]["lines"][0]["price"]) == (
        "1088.00",
        "12.50",
    )


def test_constants_are_checked_before_any_row_is_read(runtime, shop):
    with pytest.raises(ValidationFailed) as caught:
        run(
            runtime,
            ORDERS_CSV,
            MAPPING,
            constants={"channel": "web", "currency": "XXX", "lines": "1", "note": "", "nope": "x"},
        )
    assert caught.value.fields == {
        "constants.channel": "is filled by a column of the file too; skip one of them",
        "constants.currency": "'XXX' is not an option; choose one of: CNY, HKD, USD, EUR, JPY",
        "constants.lines": "is not a field of the record itself that a column could fill",
        "constants.note": "give the value as text",
        "constants.nope": "is not a field of the record itself that a column could fill",
    }
    mapping = {k: v for k, v in MAPPING.items() if k != "渠道"}
    report = run(runtime, ORDERS_CSV, mapping, constants={"channel": "门店", "currency": "USD"})
    assert report.created == 2
    assert {(o["channel"], o["currency"]) for o in orders(runtime)} == {("store", "USD")}


def test_creating_missing_customers_takes_a_key_a_name_and_the_right(runtime, shop):
    runtime.users.create("wes", ["warehouse"], "password1234")
    order = runtime.records.entity("oms.order")
    importer = runtime.imports.importer
    header = ["单号", "邮箱", "姓名", "SKU"]
    base = {"单号": "external_id", "SKU": "lines.item.sku"}
    for mapping, create, problems in [
        (
            {**base, "邮箱": "customer.email"},
            ["customer"],
            {"create.customer": "new Customer records need a column for: customer.name"},
        ),
        (
            {**base, "姓名": "customer.name"},
            ["customer"],
            {
                "create.customer": "map a column to one of Customer's keys (number, email, phone): "
                "a new one is made when it finds none"
            },
        ),
        (
            {**base, "邮箱": "customer.email", "姓名": "customer.name"},
            [],
            {"姓名": "'customer.name' only names new records: choose to create the missing ones"},
        ),
        (
            {**base, "邮箱": "customer.email"},
            ["channel", "lines"],
            {
                "create.channel": "is not a reference field of the record itself found by a key",
                "create.lines": "is not a reference field of the record itself found by a key",
            },
        ),
    ]:
        with pytest.raises(ValidationFailed) as caught:
            importer.check(SYSTEM_USER, order, header, mapping, Options.of(create=create))
        assert caught.value.fields == problems


def test_a_phone_two_customers_share_finds_neither(runtime, shop):
    for customer in (shop.customer, shop.other):
        runtime.records.update(
            SYSTEM_USER, "crm.customer", customer["id"], {"phone": "13900001111"}, version=1
        )
    text = "单号,手机,SKU\nT-1,139 0000 1111,CUP-1\n"
    mapping = {"单号": "external_id", "手机": "customer.phone", "SKU": "lines.item.sku"}
    report = run(runtime, text, mapping)
    assert report.errors == [
        {
            "row": 2,
            "column": "手机",
            "message": "2 Customer records have phone '139 0000 1111'; use a column that finds one",
        }
    ]


def test_the_mapping_is_remembered_for_the_next_file_of_its_shape(runtime, shop):
    """Once a file of Taobao's shape has been imported with channel = marketplace, the
    next one is offered the same on the screens, and the API takes it unasked."""
    sue = runtime.users.create("sue", ["sales"], "password1234")
    data = (SAMPLES / "taobao-orders-export.csv").read_bytes()
    jobs = runtime.imports
    job = jobs.upload(sue, "oms.order", "a.csv", io.BytesIO(data))
    assert job["remembered"] is None
    options = Options.of(None, {"channel": "marketplace"}, ["customer"])
    jobs.start(sue, job["id"], TAOBAO_MAPPING, dry_run=True, options=options, wait=True)
    assert jobs.upload(sue, "oms.order", "b.csv", io.BytesIO(data))["remembered"] is None
    jobs.start(sue, job["id"], TAOBAO_MAPPING, dry_run=False, options=options, wait=True)
    later = jobs.upload(sue, "oms.order", "c.csv", io.BytesIO(data))
    assert later["remembered"] == {
        "mapping": TAOBAO_MAPPING,
        "then": None,
        "constants": {"channel": "marketplace"},
        "create": ["customer"],
    }
    screens = browser(create_app(runtime=runtime), "sue")
    page = screens.get(f"/imports/{later['id']}").get_data(as_text=True)
    assert 'id="import-remembered"' in page and 'value="customer.phone" selected' in page
    assert 'name="constant-value-0" value="marketplace"' in page
    assert 'name="create" value="customer" checked' in page
    other = jobs.upload(sue, "oms.order", "o.csv", io.BytesIO(ORDERS_CSV.encode()))
    assert other["remembered"] is None  # another shape
    runtime.records.delete(SYSTEM_USER, "oms.order", orders(runtime)[0]["id"])
    api = Api(create_app(runtime=runtime).test_client(), runtime.users.create_token("sue"))
    sent = api.post(
        "/api/v1/oms/order/import",
        data={"file": (io.BytesIO(data), "d.csv")},
        content_type="multipart/form-data",
    )
    assert sent.status_code == 202
    outcome = finished(api, sent)["outcome"]
    assert (outcome["constants"], outcome["create"]) == ({"channel": "marketplace"}, ["customer"])
    assert (outcome["created"], outcome["existing"]) == (1, 1)


def test_the_api_sets_constants_and_creates_missing_customers(runtime, shop):
    runtime.users.create("sue", ["sales"], "password1234")
    api = Api(create_app(runtime=runtime).test_client(), runtime.users.create_token("sue"))
    text = "Order,Email,Buyer,SKU\nW-1,new@example.com,New Buyer,CUP-1\n"
    mapping = json.dumps(
        {
            "Order": "external_id",
            "Email": "customer.email",
            "Buyer": "customer.name",
            "SKU": "lines.item.sku",
        }
    )
    sent = api.post(
        "/api/v1/oms/order/import",
        data={
            "file": (io.BytesIO(text.encode()), "o.csv"),
            "mapping": mapping,
            "constants": '{"channel": "电话"}',
            "create": "customer",
        },
        content_type="multipart/form-data",
    )
    assert finished(api, sent)["outcome"]["created"] == 1
    [order] = orders(runtime)
    assert order["channel"] == "phone"
    assert (
        runtime.records.get(SYSTEM_USER, "crm.customer", order["customer"])["name"] == "New Buyer"
    )
    for form, field in [
        ({"constants": '{"channel": 3}'}, "constants"),
        ({"constants": '{"currency": "XXX"}'}, "constants.currency"),
        ({"create": "lines"}, "create.lines"),
    ]:
        refused = api.post(
            "/api/v1/oms/order/import",
            data={"file": (io.BytesIO(text.encode()), "o.csv"), "mapping": mapping, **form},
            content_type="multipart/form-data",
        )
        assert refused.status_code == 422 and field in refused.json["error"]["fields"]


def test_a_template_per_entity_is_headed_in_the_readers_language(runtime):
    """The Chinese workbook's headers guess back to every field a column can fill."""
    runtime.users.create("sue", ["sales"], "password1234")
    api = Api(create_app(runtime=runtime).test_client(), runtime.users.create_token("sue"))
    got = api.get("/api/v1/oms/order/import/template?lang=zh")
    assert got.status_code == 200 and got.headers["Content-Disposition"].endswith(
        "oms-order-import.xlsx"
    )
    header, rows = read_table("t.xlsx", got.data)
    assert rows == [] and "外部单号" in header and "订单明细 › 商品 › 商品编码" in header
    order = runtime.records.entity("oms.order")
    importer = runtime.imports.importer
    guessed = importer.guess(order, header)
    assert len(guessed) == len(header)
    assert set(guessed.values()) == set(importer.targets(order)) - {
        "customer",
        "lines.item",
        "warehouse",
    }
    csv_file = api.get("/api/v1/crm/lead/import/template?format=csv")
    assert csv_file.data.startswith("\ufeff".encode()) and b"Contact name,Company" in csv_file.data
    assert api.get("/api/v1/crm/lead/import/template?format=pdf").status_code == 422
    screens = browser(create_app(runtime=runtime), "sue")
    page = screens.get("/a/oms/order/import").get_data(as_text=True)
    assert "/a/oms/order/import/template.xlsx" in page
    csv_header, _ = read_table("t.csv", screens.get("/a/oms/order/import/template.csv").data)
    assert csv_header == template_header(importer, order, "en")


def test_the_mapping_screen_sets_constants_and_shows_a_bad_one_at_its_field(runtime, shop):
    runtime.users.create("sue", ["sales"], "password1234")
    screens = browser(create_app(runtime=runtime), "sue")
    text = "外部单号,客户邮箱,SKU\nS-1,zs@example.com,CUP-1\n,,POT-1\n"
    job_url = screens.post(
        "/a/oms/order/import",
        {"file": (io.BytesIO(text.encode()), "o.csv")},
        content_type="multipart/form-data",
    ).headers["Location"]
    form = {"map-0": "external_id", "map-1": "customer.email", "map-2": "lines.item.sku"}
    bad = screens.post(
        job_url, {**form, "constant-0": "currency", "constant-value-0": "XXX", "run": "import"}
    )
    page = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "Currency: &#39;XXX&#39; is not an option" in page
    assert 'name="constant-value-0" value="XXX"' in page  # kept for correcting
    done = screens.post(
        job_url, {**form, "constant-0": "currency", "constant-value-0": "美元", "run": "import"}
    )
    assert done.status_code == 303
    job = wait_for(runtime.imports, int(job_url.rsplit("/", 1)[1]))
    assert (job["report"]["created"], job["report"]["errors"]) == (1, [])
    [order] = orders(runtime)
    assert order["currency"] == "USD" and len(full(runtime, order)["lines"]) == 2
