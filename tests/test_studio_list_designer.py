"""The studio's list designer: columns, filters, search and sort ticked from the entity's
fields, a live preview of the first records as chosen (through the engine's list query,
with the admin's rights), and the choices written into the definition for the usual
preview and apply, keeping the list's other settings. On SQLite and PostgreSQL."""

from __future__ import annotations

import html
import re

import pytest

from apploom.engine.access.permissions import SYSTEM_USER
from apploom.engine.versions import applied
from apploom.web import create_app
from tests.helpers import browser


@pytest.fixture
def studio(runtime):
    for name, tier in (("甲公司", "gold"), ("乙商店", "standard"), ("丙工厂", "vip")):
        runtime.records.create(SYSTEM_USER, "crm.customer", {"name": name, "tier": tier})
    runtime.users.create("boss", ["admin"], "password1234")
    app = create_app(runtime=runtime)
    boss = browser(app, "boss")
    boss.get("/lang/zh?next=/")
    return app, boss


def cells(page: str) -> list[list[str]]:
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [
        [
            html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
            for c in re.findall(r"<td.*?</td>", row, re.S)
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def test_the_list_page_ticks_the_lists_settings_and_shows_its_records(studio):
    app, boss = studio
    page = boss.get("/studio/crm/customer/list").get_data(as_text=True)
    assert '<input type="checkbox" name="columns" value="tier" checked>' in page
    assert '<input type="checkbox" name="columns" value="phone" >' in page
    assert '<input type="checkbox" name="search" value="kind"' not in page  # not text
    assert '<option value="name" selected>名称</option>' in page  # sorted by name
    assert [row[1] for row in cells(page)] == ["丙工厂", "乙商店", "甲公司"]
    assert "<th>客户等级</th>" in page


def test_the_preview_follows_the_choices(studio):
    app, boss = studio
    chosen = {"columns": ["name", "tier", "created_at"], "filters": ["tier"], "search": ["name"]}
    answer = boss.post(
        "/studio/crm/customer/list/preview",
        data={**chosen, "sort": "tier", "sort_desc": "1", "then_sort": "name"},
        headers={"HX-Request": "true"},
    )
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "<html" not in page
    assert re.findall(r"<th>(.*?)</th>", page) == ["名称", "客户等级", "创建时间"]
    assert [row[:2] for row in cells(page)] == [
        ["丙工厂", "贵宾"],
        ["乙商店", "普通"],
        ["甲公司", "金卡"],
    ]
    assert 'placeholder="搜索: 名称"' in page and "客户等级 ▾" in page
    refused = boss.post(
        "/studio/crm/customer/list/preview",
        data={"columns": ["name", "contacts"]},
        headers={"HX-Request": "true"},
    )
    assert refused.status_code == 422 and "“contacts”" in refused.get_data(as_text=True)
    empty = boss.post("/studio/crm/customer/list/preview", data={}, headers={"HX-Request": "true"})
    assert empty.status_code == 422 and "请至少勾选一列" in empty.get_data(as_text=True)


def test_the_choices_are_previewed_applied_and_keep_the_page_size(runtime, studio):
    app, boss = studio
    chosen = {
        "columns": ["number", "name", "phone", "tier"],
        "filters": ["tier", "kind"],
        "search": ["name", "phone"],
        "sort": "created_at",
        "sort_desc": "1",
    }
    answer = boss.post("/studio/oms/order/list", data={"columns": ["number", "ghost"]})
    assert answer.status_code == 422 and "“ghost”" in html.unescape(answer.get_data(as_text=True))
    preview = boss.post("/studio/crm/customer/list", data=chosen)
    page = html.unescape(preview.get_data(as_text=True))
    assert preview.status_code == 200
    assert "+      columns: [number, name, phone, tier]" in page
    assert "+      sort: [-created_at]" in page
    text = html.unescape(
        re.search(r'<textarea name="text" hidden>(.*?)</textarea>', page, re.S).group(1)
    )
    drawn = page.split('<section class="fd-rendered" data-entity="customer">')[1]
    assert re.findall(r"<th>(.*?)</th>", drawn.split('class="striped dense fd-list"')[1])[:4] == [
        "编号",
        "名称",
        "电话",
        "客户等级",
    ]
    assert boss.post("/studio/crm/apply", data={"text": text, "comment": "列表"}).status_code == 303
    boss.get("/studio/crm")
    listed = app.extensions["apploom"].apps.apps["crm"].entities["customer"].list
    assert listed.columns == ("number", "name", "phone", "tier")
    assert listed.search == ("name", "phone") and listed.sort == ("-created_at",)


def test_saving_the_choices_keeps_the_lists_other_settings(runtime, studio):
    app, boss = studio
    with runtime.db.read() as conn:
        live = applied.source_of(conn, "crm").text
    assert "      sort: [name]\n" in live
    paged = live.replace("      sort: [name]\n", "      sort: [name]\n      page_size: 20\n", 1)
    assert boss.post("/studio/crm/apply", data={"text": paged, "comment": "20"}).status_code == 303
    boss.get("/studio/crm")
    page = boss.post("/studio/crm/customer/list", data={"columns": ["name"], "sort": "name"})
    text = html.unescape(page.get_data(as_text=True))
    assert "    list: {columns: [name], sort: [name], page_size: 20}\n" in text
