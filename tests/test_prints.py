"""Printed documents (打印单据) as a warehouse and a shop use them: a delivery note and a
picking list for an order render to PDF with its number, the Chinese item names and the
ship-to, and their barcodes and QR code scan back (pdftotext, pdftoppm and zbarimg read
the real PDF); a list prints its ticked records as one PDF; labels; the receipt roll's
page size; the reader's rights; and templates an admin writes stay in their sandbox.
On SQLite and PostgreSQL."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import segno

from apploom.engine.access.permissions import SYSTEM_USER
from apploom.engine.definitions.loading import Source, bundled_sources, load_apps
from apploom.engine.errors import DefinitionError
from apploom.engine.fields.registry import FieldTypes
from apploom.web import create_app
from tests.helpers import browser, bundled_actions
from tests.test_journey import Shop

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("pdftotext", "pdftoppm", "zbarimg", "pdfinfo")),
    reason="poppler-utils and zbar-tools read the PDFs (.ci/run installs them)",
)
SHIP_TO = {
    "ship_name": "李雷",
    "ship_phone": "13800138000",
    "ship_province": "浙江省",
    "ship_city": "杭州市",
    "ship_district": "西湖区",
    "ship_address": "文三路 90 号 2 幢 301 室",
}


def pdf_text(pdf: bytes, folder: Path) -> str:
    path = folder / "out.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def pdf_pages(pdf: bytes, folder: Path) -> tuple[int, str]:
    """How many pages, and the first one's size as pdfinfo says it (in points)."""
    path = folder / "info.pdf"
    path.write_bytes(pdf)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True)
    pages = int(re.search(r"Pages:\s+(\d+)", info.stdout)[1])
    return pages, re.search(r"Page size:\s+([\d.]+ x [\d.]+) pts", info.stdout)[1]


def pdf_codes(pdf: bytes, folder: Path) -> list[str]:
    """What every barcode and QR code on every page scans as, at 300 dpi."""
    path = folder / "codes.pdf"
    path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "300", "-png", str(path), str(folder / "page")], check=True)
    found = []
    for page in sorted(folder.glob("page*.png")):
        scanned = subprocess.run(["zbarimg", "-q", "--raw", str(page)], capture_output=True)
        found += scanned.stdout.decode().split("\n")
        page.unlink()
    return [code for code in found if code]


@pytest.fixture
def shop(runtime):
    shop = Shop(runtime)
    # two of the demo's items, on shelves far apart: the walk goes A before D
    shop.tea = shop.item("LJ-STD", "龙井绿茶 Longjing tea", bin="A-01-1")
    shop.pot = shop.item("POT-STD", "紫砂壶 Clay teapot", bin="D-01-2")
    shop.purchase(shop.tea, 10)
    shop.purchase(shop.pot, 10)
    return shop


def confirmed_order(shop) -> dict:
    order = shop.order((shop.pot, 1), (shop.tea, 3), **SHIP_TO)
    return shop.take("sales", "oms/order", order, "confirm")


def printed(shop, role, path, **params):
    response = shop.api[role].get(f"/api/v1/{path}", query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/pdf"
    return response.data


def test_a_delivery_note_shows_the_order_ship_to_and_items_and_its_qr_opens_tracking(
    shop, tmp_path
):
    order = confirmed_order(shop)
    pdf = printed(shop, "warehouse", f"oms/order/{order['id']}/print/delivery_note", lang="zh")
    text = pdf_text(pdf, tmp_path)
    assert "送货单" in text and order["number"] in text
    for words in ("龙井绿茶 Longjing tea", "紫砂壶 Clay teapot", "李雷", "13800138000"):
        assert words in text
    assert "浙江省 杭州市 西湖区" in text and "文三路 90 号 2 幢 301 室" in text
    assert "张三" in text  # the customer, by title: the warehouse does not read customers
    codes = pdf_codes(pdf, tmp_path)
    assert order["number"] in codes  # the letterhead's barcode
    [link] = [c for c in codes if c.startswith("http")]
    anonymous = create_app(runtime=shop.rt).test_client()
    page = anonymous.get(urlsplit(link).path + "?" + urlsplit(link).query)
    assert page.status_code == 200 and order["number"] in page.get_data(as_text=True)
    english = pdf_text(
        printed(shop, "warehouse", f"oms/order/{order['id']}/print/delivery_note", lang="en"),
        tmp_path,
    )
    assert "Delivery note" in english and "送货单" not in english


def test_a_picking_list_walks_the_bins_in_order_with_barcodes_of_the_items(shop, tmp_path):
    order = confirmed_order(shop)  # the pot is its first line, the tea (bin A) its second
    pdf = printed(shop, "warehouse", f"oms/order/{order['id']}/print/picking_list", lang="zh")
    text = pdf_text(pdf, tmp_path)
    assert "拣货单" in text and order["number"] in text and "李雷" in text
    assert "E1 East" in text  # the warehouse that holds the stock
    assert text.index("A-01-1") < text.index("D-01-2")
    assert text.index("龙井绿茶 Longjing tea") < text.index("紫砂壶 Clay teapot")
    codes = pdf_codes(pdf, tmp_path)
    assert {"LJ-STD", "POT-STD", order["number"]} <= set(codes)

    shop.take("warehouse", "oms/order", order, "pick")
    [parcel] = shop.call("warehouse", "get", f"/api/v1/oms/shipment?order={order['id']}")["data"]
    note = printed(shop, "warehouse", f"oms/shipment/{parcel['id']}/print/delivery_note")
    text = pdf_text(note, tmp_path)
    assert parcel["number"] in text and order["number"] in text and "李雷" in text


def test_a_list_prints_the_ticked_records_in_one_pdf(shop, tmp_path):
    orders = [confirmed_order(shop) for _ in range(3)]
    app = create_app(runtime=shop.rt)
    staff = browser(app, "warehouse")
    listing = staff.get("/a/oms/order").get_data(as_text=True)
    assert "data-print-selected" in listing and "/a/oms/order/print/picking_list" in listing
    ids = [o["id"] for o in orders[:2]]
    response = staff.get("/a/oms/order/print/picking_list", query_string={"ids": ids})
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert pdf_pages(response.data, tmp_path)[0] == 2
    text = pdf_text(response.data, tmp_path)
    assert orders[0]["number"] in text and orders[1]["number"] in text
    assert orders[2]["number"] not in text
    page = staff.get(f"/a/oms/order/{ids[0]}").get_data(as_text=True)
    assert f"/a/oms/order/{ids[0]}/print/delivery_note" in page and 'target="_blank"' in page
    none = staff.get("/a/oms/order/print/picking_list")
    assert none.status_code == 404  # none ticked
    staff.get("/lang/zh")
    said = staff.get("/a/oms/order/print/picking_list").get_data(as_text=True)
    assert "请选择要打印的销售订单" in said  # said in the reader's language


def test_the_sales_order_prints_its_money_and_the_receipt_fits_an_80_mm_roll(shop, tmp_path):
    order = shop.order((shop.tea, 2), discount="5.00", shipping_fee="8.00", **SHIP_TO)
    pdf = printed(shop, "sales", f"oms/order/{order['id']}/print/sales_order", lang="zh")
    text = pdf_text(pdf, tmp_path)
    assert "销售单" in text and "zs@example.com" in text  # sales read customers
    for figure in ("¥40.00", "−¥5.00", "¥8.00", f"¥{order['tax']}", f"¥{order['total']}"):
        assert figure in text
    assert pdf_pages(pdf, tmp_path)[1] == "595.276 x 841.89"  # A4
    receipt = printed(shop, "sales", f"oms/order/{order['id']}/print/receipt")
    assert pdf_pages(receipt, tmp_path)[1] == "226.772 x 841.89"  # 80 mm wide
    assert f"CN¥{order['total']}" in pdf_text(receipt, tmp_path)


def test_a_purchase_order_and_a_label_sheet(shop, tmp_path):
    po = shop.call("buyer", "get", "/api/v1/wms/purchase_order")["data"][0]
    text = pdf_text(
        printed(shop, "buyer", f"wms/purchase_order/{po['id']}/print/purchase_order", lang="zh"),
        tmp_path,
    )
    assert "采购单" in text and po["number"] in text and "Hangzhou Tea Co." in text
    app = create_app(runtime=shop.rt)
    staff = browser(app, "warehouse")
    sheet = staff.get("/a/wms/item/print/labels", query_string={"ids": [shop.tea, shop.pot]})
    assert pdf_pages(sheet.data, tmp_path)[0] == 1  # many labels to a page
    assert set(pdf_codes(sheet.data, tmp_path)) == {"LJ-STD", "POT-STD"}


def test_an_items_page_shows_its_barcode(shop):
    item = shop.call("warehouse", "get", f"/api/v1/wms/item/{shop.tea}")
    shop.call(
        "warehouse",
        "patch",
        f"/api/v1/wms/item/{shop.tea}",
        json={"barcode": "6901234567892", "version": item["version"]},
    )
    staff = browser(create_app(runtime=shop.rt), "warehouse")
    page = staff.get(f"/a/wms/item/{shop.tea}").get_data(as_text=True)
    assert re.search(
        r'<img class="barcode" src="data:image/svg\+xml;base64,[^"]+" alt="6901234567892"', page
    )
    refused = shop.api["warehouse"].patch(
        f"/api/v1/wms/item/{shop.tea}", json={"barcode": "条码", "version": item["version"] + 1}
    )
    assert refused.status_code == 422 and "barcode" in refused.json["error"]["fields"]


def test_printing_needs_the_right_to_read_the_record(shop):
    order = confirmed_order(shop)
    buyer = shop.api["buyer"].get(f"/api/v1/oms/order/{order['id']}/print/delivery_note")
    assert buyer.status_code == 403 and buyer.json["error"]["code"] == "forbidden"
    unknown = shop.api["sales"].get(f"/api/v1/oms/order/{order['id']}/print/invoice")
    assert unknown.status_code == 404 and "delivery_note" in unknown.json["error"]["message"]
    missing = shop.api["sales"].get("/api/v1/oms/order/999999/print/delivery_note")
    assert missing.status_code == 404
    bad = shop.api["sales"].get(f"/api/v1/oms/order/{order['id']}/print/delivery_note?lang=fr")
    assert bad.status_code == 400 and "lang" in bad.json["error"]["fields"]
    anonymous = create_app(runtime=shop.rt).test_client()
    assert anonymous.get(f"/api/v1/oms/order/{order['id']}/print/delivery_note").status_code == 401
    assert anonymous.get(f"/a/oms/order/{order['id']}/print/delivery_note").status_code in (
        302,
        303,
    )


def test_openapi_describes_each_print_as_a_pdf(shop):
    doc = create_app(runtime=shop.rt).test_client().get("/api/v1/openapi.json").json
    get = doc["paths"]["/oms/order/{id}/print/delivery_note"]["get"]
    assert get["responses"]["200"]["content"] == {
        "application/pdf": {"schema": {"type": "string", "format": "binary"}}
    }
    assert {"/oms/shipment/{id}/print/picking_list", "/wms/item/{id}/print/labels"} <= set(
        doc["paths"]
    )


def test_the_business_letterhead_comes_from_the_settings(runtime, tmp_path):
    logo = runtime.settings.instance_path / "logo.png"
    segno.make_qr("YUNSHAN-LOGO").save(str(logo), scale=4)
    from tests.helpers import make_runtime

    rt = make_runtime(
        runtime.settings.database_url,
        runtime.settings.instance_path,
        business_name="云山茶业有限公司",
        business_address="上海市黄浦区南京东路 100 号",
        business_phone="021-5555 0100",
        business_logo="logo.png",
    )
    shop = Shop(rt)
    order = shop.order((shop.item("CUP-STD", "陶瓷茶杯 Ceramic cup"), 1))
    pdf = printed(shop, "sales", f"oms/order/{order['id']}/print/sales_order", lang="zh")
    text = pdf_text(pdf, tmp_path)
    assert "云山茶业有限公司" in text and "上海市黄浦区南京东路 100 号" in text
    assert "021-5555 0100" in text
    assert "YUNSHAN-LOGO" in pdf_codes(pdf, tmp_path)  # the logo (a QR code here) is shown
    rt.close()


def write_template(runtime, name: str, body: str) -> None:
    folder = runtime.settings.instance_path / "templates" / "prints"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.html").write_text(
        '{% extends "prints/_page.html" %}{% block document %}' + body + "{% endblock %}"
    )


def test_an_instance_template_replaces_the_bundled_one_inside_the_sandbox(shop, tmp_path):
    order = confirmed_order(shop)
    url = f"oms/order/{order['id']}/print/delivery_note"
    write_template(
        shop.rt,
        "delivery_note",
        "<h1>自定义 {{ record.number }} {{ record.lines[0].item.sku }}</h1>",
    )
    text = pdf_text(printed(shop, "sales", url), tmp_path)
    assert f"自定义 {order['number']} POT-STD" in text
    for body, said in (
        ("{{ record.__class__ }}", "sandbox"),
        ("{{ record._title }}", "sandbox"),
        ("{{ 'x' * 100000000 }}", "too large"),
        ("{{ 2 ** 100000000 }}", "too large"),
        ("{% for x in %}", "line 1"),
    ):
        write_template(shop.rt, "delivery_note", body)
        fresh = create_app(runtime=shop.rt).test_client()
        token = shop.rt.users.create_token("sales")
        answer = fresh.get(f"/api/v1/{url}", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 422, (body, answer.status_code)
        assert said in answer.json["error"]["message"] or answer.json["error"]["code"] == said
    # a template cannot make the server read a file or fetch a URL: the image is left out
    secret = tmp_path / "secret.png"
    segno.make_qr("secret").save(str(secret), scale=4)
    write_template(shop.rt, "delivery_note", f'<p>ok</p><img src="file://{secret}">')
    fresh = create_app(runtime=shop.rt).test_client()
    token = shop.rt.users.create_token("sales")
    answer = fresh.get(f"/api/v1/{url}", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200 and "secret" not in pdf_codes(answer.data, tmp_path)


def test_definitions_name_prints_clearly():
    types = FieldTypes()

    def problems(old: str, new: str) -> list:
        sources = []
        for source in bundled_sources():
            if source.file.endswith("oms.yaml"):
                assert old in source.text
                source = Source(source.file, source.text.replace(old, new))
            sources.append(source)
        with pytest.raises(DefinitionError) as caught:
            load_apps(sources, types, bundled_actions())
        return [(p.path, p.message) for p in caught.value.problems]

    [(path, message)] = problems(
        "picking_list: {label: {en: Picking list, zh: 拣货单}}\n      sales_order",
        "picking_list: {template: Picking-List}\n      sales_order",
    )
    assert path == "entities.order.prints.picking_list.template" and "a-z, 0-9" in message
    [(path, message)] = problems("template: sales_receipt, page: receipt", "page: a5")
    assert path == "entities.order.prints.receipt.page" and "receipt" in message
    [(path, message)] = problems(
        "  shipment_line:\n    label: {en: Shipment line, zh: 发货行}\n",
        "  shipment_line:\n    label: {en: Shipment line, zh: 发货行}\n    prints: {slip: {}}\n",
    )
    assert path == "entities.shipment_line.prints" and "shipment" in message
    apps = load_apps(bundled_sources(), types, bundled_actions())
    assert apps.entity("oms.order").prints["receipt"].path == "prints/sales_receipt.html"
    assert apps.entity("oms.order").prints["receipt"].page == "receipt"


def test_every_bundled_print_renders(sqlite_runtime, tmp_path):
    """Each print of each bundled entity, for a record of it, in both languages."""
    shop = Shop(sqlite_runtime)
    shop.purchase(shop.tea, 3)
    order = shop.take("sales", "oms/order", shop.order((shop.tea, 1)), "confirm")
    shop.take("warehouse", "oms/order", order, "pick")
    from apploom.printing.render import Printer

    printer = Printer(sqlite_runtime)
    for entity in sqlite_runtime.apps.entities():
        for spec in entity.prints.values():
            [first] = sqlite_runtime.records.list(SYSTEM_USER, entity.qualified).data[:1]
            for lang in ("en", "zh"):
                html = printer.html(SYSTEM_USER, entity.qualified, spec.name, [first["id"]], lang)
                assert "<section" in html or "sheet" in html, (entity.qualified, spec.name)
    assert printer.to_pdf(html).startswith(b"%PDF")


def test_an_admin_edits_a_print_template_in_the_studio_beside_its_preview(sqlite_runtime, tmp_path):
    shop = Shop(sqlite_runtime)
    order = shop.order((shop.tea, 1), **SHIP_TO)
    sqlite_runtime.users.create("ada", ["admin"], "password1234")
    app = create_app(runtime=sqlite_runtime)
    editor = "/studio/prints/oms/order/delivery_note"
    assert browser(app, "sales").get(editor).status_code == 403
    admin = browser(app, "ada")
    assert editor in admin.get("/studio/oms").get_data(as_text=True)
    page = admin.get(editor).get_data(as_text=True)
    assert "{% extends &#34;prints/_page.html&#34; %}" in page and "the bundled one" in page

    written = (
        '{% extends "prints/_page.html" %}'
        "{% block document %}<h1>新送货单 {{ record.number }}</h1>{% endblock %}"
    )
    preview = admin.post(editor + "/preview", {"source": written, "record": order["id"]})
    assert preview.status_code == 200 and f"新送货单 {order['number']}" in preview.get_data(
        as_text=True
    )
    policy = preview.headers["Content-Security-Policy"]
    assert "sandbox" in policy and "script-src" not in policy and "default-src 'none'" in policy
    broken = admin.post(editor + "/preview", {"source": "{% if %}", "record": order["id"]})
    assert "line 1" in broken.get_data(as_text=True)

    saved = sqlite_runtime.settings.instance_path / "templates" / "prints" / "delivery_note.html"
    refused = admin.post(editor, {"source": "{% for %}", "record": order["id"]})
    assert refused.status_code == 422 and "line 1" in refused.get_data(as_text=True)
    assert "{% for %}" in refused.get_data(as_text=True) and not saved.exists()  # kept on screen
    assert admin.post(editor, {"source": written, "record": order["id"]}).status_code == 303
    assert saved.read_text() == written
    text = pdf_text(
        printed(shop, "sales", f"oms/order/{order['id']}/print/delivery_note"), tmp_path
    )
    assert f"新送货单 {order['number']}" in text
    assert admin.post(editor, {"reset": "1"}).status_code == 303 and not saved.exists()
    text = pdf_text(
        printed(shop, "sales", f"oms/order/{order['id']}/print/delivery_note"), tmp_path
    )
    assert "新送货单" not in text and "Delivery note" in text
