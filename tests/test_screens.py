"""The screens over HTTP: sign-in, CSRF, lists, forms, record pages, export, language."""

from __future__ import annotations

import csv
import html
import io
import json
import re
import secrets

import pytest
from openpyxl import load_workbook
from sqlalchemy import update

from apploom.engine.access.permissions import SYSTEM_USER
from apploom.engine.automation import notifications, outbox
from apploom.engine.definitions.loading import Source
from apploom.engine.errors import BadSetting
from apploom.engine.settings import Settings
from apploom.engine.storage.system_tables import sys_outbox
from apploom.web import create_app
from tests.helpers import Browser, Shop, browser, bundled_with, reopen


@pytest.fixture
def app(sqlite_runtime):
    for name, roles in {"sue": ["sales"], "wes": ["warehouse"], "max": ["manager"]}.items():
        sqlite_runtime.users.create(name, roles, "password1234", display_name=name.title())
    return create_app(runtime=sqlite_runtime)


@pytest.fixture
def shop(sqlite_runtime):
    return Shop(sqlite_runtime)


def order_form(shop, **overrides):
    data = {
        "customer": str(shop.customer["id"]),
        "channel": "web",
        "ordered_at": "2026-11-20T10:00",
        "lines-0-item": str(shop.cup["id"]),
        "lines-0-qty": "2",
        "lines-0-price": "12.50",
        "lines-1-item": str(shop.pot["id"]),
        "lines-1-qty": "1",
        "lines-1-price": "268.00",
        "note": "",
    }
    data.update(overrides)
    return data


def test_pages_need_a_signed_in_user(app):
    response = app.test_client().get("/a/oms/order")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_failed_login_does_not_say_which_half_was_wrong(app):
    b = Browser(app)
    b.get("/login")
    wrong_password = b.post("/login", {"username": "sue", "password": "nope"})
    no_user = b.post("/login", {"username": "ghost", "password": "nope"})
    assert wrong_password.status_code == no_user.status_code == 401
    assert "Wrong username or password." in wrong_password.get_data(as_text=True)
    assert wrong_password.get_data(as_text=True).count("Wrong username") == no_user.get_data(
        as_text=True
    ).count("Wrong username")


def test_login_redirects_only_to_local_pages_and_sets_a_safe_cookie(app):
    b = Browser(app)
    b.get("/login")
    response = b.post(
        "/login", {"username": "sue", "password": "password1234", "next": "//evil.example/steal"}
    )
    assert response.headers["Location"] == "/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_no_other_site_may_frame_a_page_or_run_script_on_it(app, shop, sqlite_runtime):
    """A same-site page framed an order page with its Delete button."""
    b = browser(app, "max")
    lines = [{"item": shop.cup["id"], "qty": 1, "price": "12.50"}]
    order = sqlite_runtime.records.create(
        SYSTEM_USER, "oms.order", {"customer": shop.customer["id"], "lines": lines}
    )
    for url in ("/login", f"/a/oms/order/{order['id']}", "/api/v1/oms/order", "/static/app.js"):
        with b.client.get(url) as response:
            headers = response.headers
        policy = headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in policy and "script-src 'self';" in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"


def test_cookies_are_sent_only_over_https_when_it_is_served_so(app, sqlite_runtime):
    def cookie(**config) -> str:
        served = create_app(
            {
                "instance_path": str(sqlite_runtime.settings.instance_path),
                "database_url": sqlite_runtime.settings.database_url,
                **config,
            }
        )
        b = Browser(served)
        b.get("/login")
        response = b.post("/login", {"username": "sue", "password": "password1234"})
        served.extensions["apploom"].close()
        return response.headers["Set-Cookie"]

    for secure in (cookie(base_url="https://shop.example.com"), cookie(secure_cookies="1")):
        assert "Secure" in secure and "HttpOnly" in secure and "SameSite=Lax" in secure
    assert "Secure" not in cookie(secure_cookies="0")
    assert Settings.load(environ={"APPLOOM_SECURE_COOKIES": "1"}).secure_cookies is True


def test_posts_without_the_csrf_token_are_refused(app, shop, sqlite_runtime):
    b = browser(app, "sue")
    data = order_form(shop)
    missing = b.client.post("/a/oms/order/new", data=data)
    wrong = b.client.post("/a/oms/order/new", data={**data, "csrf_token": "forged"})
    assert missing.status_code == wrong.status_code == 400
    assert "The form expired" in missing.get_data(as_text=True)
    assert sqlite_runtime.records.list(SYSTEM_USER, "oms.order").total == 0
    login = app.test_client().post("/login", data={"username": "sue", "password": "password1234"})
    assert login.status_code == 400
    via_header = b.client.post("/a/oms/order/new", data=data, headers={"X-CSRF-Token": b.token})
    assert via_header.status_code == 303


def test_the_warehouse_sees_the_customers_name_on_an_order_without_reading_customers(
    app, shop, sqlite_runtime
):
    """Warehouse staff saw the customer as "#37": they may read orders, not customers."""
    lines = [{"item": shop.cup["id"], "qty": 1, "price": "12.50"}]
    order = sqlite_runtime.records.create(
        SYSTEM_USER, "oms.order", {"customer": shop.customer["id"], "lines": lines}
    )
    wes = browser(app, "wes")
    page = wes.get(f"/a/oms/order/{order['id']}").get_data(as_text=True)
    assert "张三" in page and f"#{shop.customer['id']}" not in page
    assert "张三" in wes.get("/a/oms/order").get_data(as_text=True)  # the list too
    assert wes.get(f"/a/crm/customer/{shop.customer['id']}").status_code == 403
    other = shop.other["id"]  # no order of Emma's: naming her id shows no name
    titles = sqlite_runtime.records.titles(
        sqlite_runtime.users.get("wes"),
        "crm.customer",
        {shop.customer["id"], other},
        via=("oms.order", "customer"),
    )
    assert titles == {shop.customer["id"]: "张三", other: f"#{other}"}


def test_launcher_shows_only_the_apps_a_user_may_read(app):
    sales = browser(app, "sue").get("/").get_data(as_text=True)
    warehouse = browser(app, "wes").get("/").get_data(as_text=True)
    assert "Customers" in sales and "Orders" in sales
    assert "/a/crm/customer" not in warehouse and "/a/oms/order" in warehouse


def test_list_shows_refs_by_title_filters_and_sorts(app, shop, sqlite_runtime):
    for channel in ("web", "store"):
        sqlite_runtime.records.create(SYSTEM_USER, "oms.order", shop.order(channel=channel))
    b = browser(app, "sue")
    page = b.get("/a/oms/order").get_data(as_text=True)
    assert "张三" in page and "<html" in page
    assert 'name="channel__in" value="store"' in page
    filtered = b.get(
        "/a/oms/order?channel__in=store&sort=-total",
        headers={"HX-Request": "true", "HX-Target": "results"},
    )
    fragment = filtered.get_data(as_text=True)
    assert "<html" not in fragment and fragment.count("<tr>") == 2  # header and one order
    assert "HX-Request" in filtered.headers["Vary"]
    assert filtered.headers["HX-Push-Url"] == "/a/oms/order?channel__in=store&sort=-total"
    assert "Store" in fragment and "Web shop" not in fragment


def test_list_empty_states_and_bad_filters(app, shop):
    b = browser(app, "sue")
    empty = b.get("/a/oms/order").get_data(as_text=True)
    assert "Nothing here yet." in empty and "Create the first one" in empty
    bad = b.get("/a/oms/order?total__gt=lots")
    assert bad.status_code == 200 and "must be a number" in bad.get_data(as_text=True)


def test_create_through_the_form(app, shop, sqlite_runtime):
    b = browser(app, "sue")
    form = b.get("/a/oms/order/new").get_data(as_text=True)
    assert 'name="lines-0-qty"' in form and 'value="1"' in form  # a first row, with defaults
    response = b.post("/a/oms/order/new", order_form(shop))
    assert response.status_code == 303
    record = b.get(response.headers["Location"]).get_data(as_text=True)
    assert "293.00" in record and "Saved." in record and "CUP-1 Cup" in record
    assert sqlite_runtime.records.list(SYSTEM_USER, "oms.order").total == 1


def test_form_errors_are_shown_next_to_the_fields(app, shop, sqlite_runtime):
    b = browser(app, "sue")
    response = b.post("/a/oms/order/new", order_form(shop, customer="", **{"lines-1-qty": "0"}))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Please correct the fields marked below." in page
    assert 'id="customer-error">is required' in page
    assert "must be at least 1" in page
    assert 'value="268.00"' in page  # what was typed is kept
    assert sqlite_runtime.records.list(SYSTEM_USER, "oms.order").total == 0


def test_a_warehouse_user_cannot_create_an_order(app, shop):
    b = browser(app, "wes")
    assert b.get("/a/oms/order/new").status_code == 403
    assert b.post("/a/oms/order/new", order_form(shop)).status_code == 403
    assert "+ New" not in b.get("/a/oms/order").get_data(as_text=True)


def test_preview_recomputes_formulas_out_of_band(app, shop):
    b = browser(app, "sue")
    b.get("/a/oms/order/new")
    response = b.post("/a/oms/order/preview", order_form(shop, **{"lines-1-qty": "3"}))
    page = response.get_data(as_text=True)
    assert 'id="calc-total"' in page and "829.00" in page
    assert 'id="calc-lines-1-amount"' in page and "804.00" in page


def test_edit_and_a_stale_edit_shows_both_values(app, shop, sqlite_runtime):
    order = sqlite_runtime.records.create(SYSTEM_USER, "oms.order", shop.order())
    read = order["version"]  # 2: the rule assign_owner gave it to sue
    b = browser(app, "sue")
    form = b.get(f"/a/oms/order/{order['id']}/edit").get_data(as_text=True)
    assert f'name="version" value="{read}"' in form
    lines = {f"lines-{i}-id": str(line["id"]) for i, line in enumerate(order["lines"])}
    data = {**order_form(shop, note="mine"), **lines, "version": str(read)}
    sqlite_runtime.records.update(
        SYSTEM_USER, "oms.order", order["id"], {"note": "theirs"}, version=read
    )
    stale = b.post(f"/a/oms/order/{order['id']}/edit", data)
    assert stale.status_code == 409
    page = stale.get_data(as_text=True)
    assert "Someone else changed this record" in page
    assert "Theirs: <strong>theirs</strong>" in page and ">mine</textarea>" in page
    assert f'name="version" value="{read + 1}"' in page
    saved = b.post(f"/a/oms/order/{order['id']}/edit", {**data, "version": str(read + 1)})
    assert saved.status_code == 303
    assert sqlite_runtime.records.get(SYSTEM_USER, "oms.order", order["id"])["note"] == "mine"


def test_record_page_timeline_and_comments(app, shop, sqlite_runtime):
    order = sqlite_runtime.records.create(SYSTEM_USER, "oms.order", shop.order())
    sqlite_runtime.records.update(
        SYSTEM_USER, "oms.order", order["id"], {"channel": "phone"}, version=order["version"]
    )
    b = browser(app, "sue")
    page = b.get(f"/a/oms/order/{order['id']}").get_data(as_text=True)
    assert "<del>Web shop</del> → <ins>Phone</ins>" in page
    fragment = b.post(
        f"/a/oms/order/{order['id']}/comment",
        {"body": "called <b>back</b>"},
        headers={"HX-Request": "true"},
    ).get_data(as_text=True)
    assert fragment.startswith('<ol id="timeline"')
    assert "called &lt;b&gt;back&lt;/b&gt;" in fragment  # escaped, never raw HTML
    plain = b.post(f"/a/oms/order/{order['id']}/comment", {"body": "again"})
    assert plain.status_code == 303


def test_bulk_delete_is_one_action_and_needs_the_permission(app, shop, sqlite_runtime):
    ids = [
        sqlite_runtime.records.create(SYSTEM_USER, "oms.order", shop.order())["id"]
        for _ in range(3)
    ]
    sales = browser(app, "sue")
    assert sales.post("/a/oms/order/bulk", {"action": "delete", "ids": ids[:2]}).status_code == 403
    manager = browser(app, "max")
    response = manager.post("/a/oms/order/bulk", {"action": "delete", "ids": ids[:2]})
    assert response.status_code == 303
    assert [o["id"] for o in sqlite_runtime.records.list(SYSTEM_USER, "oms.order").data] == [ids[2]]


def test_export_csv_and_xlsx_follow_the_filters(app, shop, sqlite_runtime):
    for channel in ("web", "store"):
        sqlite_runtime.records.create(SYSTEM_USER, "oms.order", shop.order(channel=channel))
    b = browser(app, "sue")
    response = b.get("/a/oms/order/export.csv?channel__in=store")
    assert response.headers["Content-Disposition"] == 'attachment; filename="oms-order.csv"'
    text = response.data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["Number", "Customer", "Channel"]
    assert len(rows) == 2 and rows[1][1] == "张三" and rows[1][2] == "Store"
    workbook = load_workbook(io.BytesIO(b.get("/a/oms/order/export.xlsx").data))
    sheet = workbook.active
    assert sheet.max_row == 3
    header = [c.value for c in sheet[1]]
    assert float(sheet.cell(2, header.index("Total") + 1).value) == 293.0
    assert b.get("/a/oms/order/export.pdf").status_code == 404


def test_lookup_suggests_records_the_user_may_read(app, shop):
    found = browser(app, "sue").get("/lookup/crm/customer?_lookup=张&for=customer")
    assert 'data-id="%d"' % shop.customer["id"] in found.get_data(as_text=True)
    assert browser(app, "wes").get("/lookup/crm/customer?_lookup=张").status_code == 403


def test_language_switch_changes_chrome_and_labels(app, shop):
    b = browser(app, "sue")
    page = b.get("/lang/zh?next=/a/oms/order", follow_redirects=True).get_data(as_text=True)
    assert "销售订单" in page and "渠道" in page and "退出" in page and "线上商城" in page
    assert "Sign out" not in page
    english = b.get("/lang/en?next=/a/oms/order", follow_redirects=True)
    assert "Sales order" in english.get_data(as_text=True)


def test_chinese_screens_show_yuan_and_chinese_dates_and_exports_stay_plain(
    app, shop, sqlite_runtime
):
    order = sqlite_runtime.records.create(
        SYSTEM_USER, "oms.order", shop.order(ordered_at="2026-11-20T10:00")
    )
    b = browser(app, "sue")
    listing = b.get("/lang/zh?next=/a/oms/order", follow_redirects=True).get_data(as_text=True)
    assert "¥293.00" in listing and "2026年11月20日 10:00" in listing
    record = b.get(f"/a/oms/order/{order['id']}").get_data(as_text=True)
    assert "¥293.00" in record and "¥12.50" in record  # the total and a line's price
    assert "2026年11月20日 10:00" in record
    rows = list(csv.reader(io.StringIO(b.get("/a/oms/order/export.csv").data.decode("utf-8-sig"))))
    cells = dict(zip(rows[0], rows[1], strict=True))
    assert cells["应付金额"] == "293.00" and cells["下单时间"] == "2026-11-20 10:00"
    english = b.get("/lang/en?next=/a/oms/order", follow_redirects=True).get_data(as_text=True)
    assert "CN¥293.00" in english and "Nov 20, 2026, 10:00\u202fAM" in english


def test_a_chinese_report_names_its_months_and_writes_its_money_in_yuan(app, shop, sqlite_runtime):
    order = sqlite_runtime.records.create(
        SYSTEM_USER, "oms.order", shop.order(ordered_at="2026-03-02T10:00")
    )
    sqlite_runtime.transitions.take(SYSTEM_USER, "oms.order", order["id"], "confirm")
    b = browser(app, "max")
    page = b.get("/lang/zh?next=/a/oms/reports/sales_by_month", follow_redirects=True)
    text = page.get_data(as_text=True)
    assert '<td class="">2026年3月</td>' in text and "¥293.00" in text and "2026-03<" not in text
    chart = json.loads(html.unescape(re.search(r'data-chart="([^"]*)"', text)[1]))
    assert chart["labels"] == ["2026年3月"]
    assert chart["figures"] == {"locale": "zh-CN", "style": "currency", "currency": "CNY"}
    download = b.get("/a/oms/reports/sales_by_month.csv").data.decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(download)))[1] == ["2026-03", "293.00"]  # plain
    english = b.get("/lang/en?next=/a/oms/reports/sales_by_month", follow_redirects=True)
    assert '<td class="">Mar 2026</td>' in english.get_data(as_text=True)


def test_logout_ends_the_session(app):
    b = browser(app, "sue")
    assert b.post("/logout").status_code == 303
    assert b.get("/a/oms/order").status_code == 302


def test_exports_keep_formula_like_text_inert(app, sqlite_runtime):
    sqlite_runtime.records.create(
        SYSTEM_USER, "crm.customer", {"name": '=HYPERLINK("http://evil.example","x")'}
    )
    b = browser(app, "sue")
    rows = list(
        csv.reader(io.StringIO(b.get("/a/crm/customer/export.csv").data.decode("utf-8-sig")))
    )
    assert rows[1][1] == '\'=HYPERLINK("http://evil.example","x")'
    sheet = load_workbook(io.BytesIO(b.get("/a/crm/customer/export.xlsx").data)).active
    assert sheet.cell(2, 2).data_type == "s"


def test_export_headers_are_inert_too_and_numbers_stay_numbers(sqlite_runtime):
    """A header is text a spreadsheet would run like any other cell: a label, or a report's
    column named by the values it groups (a customer's city here)."""
    sources = bundled_with(
        "crm.yaml", "label: {en: Name, zh: 名称}", 'label: {en: "=Name", zh: 名称}'
    )
    sources = [
        Source(
            s.file,
            s.text.replace(
                "    rows: [created_at.month]\n",
                "    rows: [created_at.month]\n    columns: [city]\n",
            ),
        )
        if s.file.endswith("crm.yaml")
        else s
        for s in sources
    ]
    rt = reopen(sqlite_runtime, sources)
    rt.users.create("max", ["manager"], "password1234")
    rt.records.create(SYSTEM_USER, "crm.customer", {"name": "x", "city": "@SUM(1+1)"})
    b = browser(create_app(runtime=rt), "max")
    rows = list(
        csv.reader(io.StringIO(b.get("/a/crm/customer/export.csv").data.decode("utf-8-sig")))
    )
    assert rows[0][1] == "'=Name"
    sheet = load_workbook(io.BytesIO(b.get("/a/crm/customer/export.xlsx").data)).active
    assert sheet.cell(1, 2).value == "'=Name"
    report = list(
        csv.reader(io.StringIO(b.get("/a/crm/reports/new_customers.csv").data.decode("utf-8-sig")))
    )
    assert report[0][1:] == ["'@SUM(1+1)"]
    sheet = load_workbook(io.BytesIO(b.get("/a/crm/reports/new_customers.xlsx").data)).active
    assert sheet.cell(1, 2).value == "'@SUM(1+1)"
    assert sheet.cell(2, 2).value == 1 and sheet.cell(2, 2).data_type == "n"
    rt.close()


def test_screens_refuse_odd_input_with_4xx(app, shop, sqlite_runtime):
    order = sqlite_runtime.records.create(SYSTEM_USER, "oms.order", shop.order())
    b = browser(app, "sue")
    for url in ("/a/oms/order/9223372036854775808", "/a/oms/order/99999999999999999999/edit"):
        assert b.get(url).status_code == 404
    assert b.get("/a/oms/order?fields=number").status_code == 200
    odd_token = b.client.post("/a/oms/order/new", data={"csrf_token": "é"})
    assert odd_token.status_code == 400
    unicode_row = b.post(
        f"/a/oms/order/{order['id']}/edit",
        {**order_form(shop), "lines-0-id": "²", "version": str(order["version"])},
    )
    assert unicode_row.status_code in (303, 422)
    back = b.post(
        "/a/oms/order/bulk", {"action": "delete", "ids": [], "back": "https://evil.example/"}
    )
    assert back.headers["Location"] == "/a/oms/order"


def test_read_only_users_get_no_edit_form(app, shop, sqlite_runtime):
    order = sqlite_runtime.records.create(SYSTEM_USER, "oms.order", shop.order())
    assert browser(app, "wes").get(f"/a/oms/order/{order['id']}/edit").status_code == 403


def test_signing_out_ends_copied_sessions_too(app):
    b = browser(app, "sue")
    copied = b.client.get_cookie("apploom_session").value
    b.post("/logout")
    thief = app.test_client()
    thief.set_cookie("apploom_session", copied)
    assert thief.get("/").status_code == 302


def test_a_failed_comment_keeps_the_timeline(app, shop, sqlite_runtime):
    order = sqlite_runtime.records.create(SYSTEM_USER, "oms.order", shop.order())
    b = browser(app, "sue")
    b.get(f"/a/oms/order/{order['id']}")
    response = b.post(
        f"/a/oms/order/{order['id']}/comment", {"body": "   "}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert page.startswith('<ol id="timeline"') and "write something first" in page


def test_notifications_bell_and_page(app, sqlite_runtime):
    sue = sqlite_runtime.users.get("sue")
    with sqlite_runtime.db.write() as conn:
        notifications.send(conn, [sue.id], "Order <b>1</b>", "/a/oms/order/1")
    b = browser(app, "sue")
    page = b.get("/").get_data(as_text=True)
    assert '<span class="count">1</span>' in page
    listing = b.get("/notifications").get_data(as_text=True)
    assert "Order &lt;b&gt;1&lt;/b&gt;" in listing
    b.post("/notifications/read")
    assert '<span class="count">' not in b.get("/").get_data(as_text=True)


def test_admins_retry_dead_letters_from_the_outbox_page(app, sqlite_runtime):
    sqlite_runtime.users.create("ada", ["admin"], "password1234")
    with sqlite_runtime.db.write() as conn:
        message_id = outbox.enqueue(conn, "email", {"to": "x@example.com", "subject": "s"})
        conn.execute(update(sys_outbox).values(status="dead", attempts=6, last_error="refused"))
    assert browser(app, "sue").get("/admin/outbox").status_code == 403
    admin = browser(app, "ada")
    page = admin.get("/admin/outbox").get_data(as_text=True)
    assert "x@example.com" in page and "refused" in page
    assert admin.post(f"/admin/outbox/{message_id}/retry").status_code == 303
    assert outbox.messages(sqlite_runtime.db, "pending")[0]["id"] == message_id


def test_a_guessable_secret_key_refuses_to_start(sqlite_runtime):
    config = {
        "instance_path": str(sqlite_runtime.settings.instance_path),
        "database_url": sqlite_runtime.settings.database_url,
    }
    guessable = {
        "x": "too short (1 characters; at least 32)",
        "a-31-character-key-a-31-charact": "too short",
        "x" * 40: "placeholder",
        "change-me-to-something-long-and-random": "placeholder",
        "192b9bdd22ab9ed4d12e236c78afcb9a393ec15f71bbf5dc987d54727823bcbf": "published",
    }
    for key, reason in guessable.items():
        with pytest.raises(BadSetting, match=re.escape(reason)):
            create_app({**config, "secret_key": key})
    key = secrets.token_hex(32)
    app = create_app({**config, "secret_key": key})
    assert app.secret_key == key
    app.extensions["apploom"].close()
