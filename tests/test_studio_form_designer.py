"""The studio's form designer: the form drawn with its real widgets, a field added from
the palette (with coloured options) and a field changed in the properties panel, each
written into the definition, previewed with its diff and applied; bad input refused
with the field named and nothing changed. On SQLite and PostgreSQL."""

from __future__ import annotations

import html
import json
import re

import pytest
from sqlalchemy import JSON, column, select, table

from apploom.engine.access.permissions import SYSTEM_USER
from apploom.engine.versions import applied
from apploom.web import create_app
from apploom.web.studio.rendered import shown_sections
from tests.helpers import browser

NEW = "__new__"


@pytest.fixture
def studio(runtime):
    runtime.users.create("boss", ["admin"], "password1234")
    app = create_app(runtime=runtime)
    boss = browser(app, "boss")
    boss.get("/lang/zh?next=/")
    return app, boss


def customer(app):
    return app.extensions["apploom"].apps.apps["crm"].entities["customer"]


def layout_with(app, name: str, section: int = 0, row: int = 0) -> str:
    """The customer form's layout as the designer sends it (with the section of the
    fields it does not place), ``name`` put at the end of the given row."""
    sections = [
        {"en": s.label.en, "zh": s.label.zh, "rows": [list(r) for r in s.rows]}
        for s in shown_sections(customer(app))
    ]
    sections[section]["rows"][row].append(name)
    return json.dumps(sections)


def preview_text(page: str) -> str:
    found = re.search(r'<textarea name="text" hidden>(.*?)</textarea>', page, re.S)
    assert found, "the preview offers no apply"
    return html.unescape(found.group(1))


def diff_lines(page: str) -> list[str]:
    """The lines the preview's diff takes out (-) and puts in (+)."""
    diff = re.search(r'<pre class="diff">(.*?)</pre>', html.unescape(page), re.S).group(1)
    return [
        line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]


def test_the_form_page_shows_the_real_widgets_the_palette_and_no_english(studio):
    app, boss = studio
    page = boss.get("/studio/crm/customer/form").get_data(as_text=True)
    assert '<select name="fd-customer-tier" id="fd-customer-tier">' in page  # the widget
    assert '<option value="gold" >金卡</option>' in page
    assert "<th>姓名</th>" in page or "联系人" in page  # a table's rows are drawn
    for kind in ("select", "multiselect", "money", "ref", "user", "boolean", "date"):
        assert f'data-type="{kind}"' in page
    assert 'data-key="formula"' in page and 'data-type="table"' not in page
    assert "单选" in page or "选项" in page
    assert re.search(r'<fieldset class="fd-widget" disabled inert>', page)


def test_a_select_from_the_palette_with_coloured_options_is_previewed_and_applied(runtime, studio):
    app, boss = studio
    panel = boss.get("/studio/crm/customer/form/field?type=select").get_data(as_text=True)
    assert 'name="panel" value="new"' in panel and 'name="option_colour"' in panel
    assert 'name="visible_if"' in panel and 'data-insert="visible_if"' in panel
    change = {
        "layout": layout_with(app, NEW, section=0, row=2),
        "panel": "new",
        "type": "select",
        "label_zh": "来源渠道",
        "label_en": "Lead source",
        "option_zh": ["展会", "网站", ""],
        "option_en": ["Fair", "Website", ""],
        "option_colour": ["amber", "teal", ""],
        "option_value": ["", "", ""],
        "required": "1",
        "visible_if": "kind == 'company'",
    }
    preview = boss.post("/studio/crm/customer/form", data=change)
    page = html.unescape(preview.get_data(as_text=True))
    assert preview.status_code == 200, page
    text = preview_text(preview.get_data(as_text=True))
    assert (
        "lead_source: {type: select, label: {en: Lead source, zh: 来源渠道}, required: true, "
        "options: [{value: fair, label: {en: Fair, zh: 展会}, colour: amber}, {value: website, "
        "label: {en: Website, zh: 网站}, colour: teal}], visible_if: kind == 'company'}"
    ) in text
    assert "rows: [[name, kind], [tier, tags], [email, phone, lead_source], [language]]" in text
    assert "+      lead_source: {type: select" in page  # the diff shows what changes
    assert diff_lines(page) == [
        "+      lead_source: " + text.split("      lead_source: ")[1].split("\n")[0],
        "-        rows: [[name, kind], [tier, tags], [email, phone], [language]]",
        "+        rows: [[name, kind], [tier, tags], [email, phone, lead_source], [language]]",
    ]  # the sections left as they were are not rewritten
    drawn = page.split('<section class="fd-rendered" data-entity="customer">')[1]
    assert '<select name="fd-customer-lead_source"' in drawn  # the new form, drawn
    assert '<span class="badge amber">展会</span>' in drawn
    assert "新增列 crm_customer.lead_source" in page  # the plan, in the reader's language
    done = boss.post("/studio/crm/apply", data={"text": text, "comment": "来源渠道"})
    assert done.status_code == 303
    assert "来源渠道" in boss.get(done.headers["Location"]).get_data(as_text=True)
    field = customer(app).fields["lead_source"]
    assert field.label.zh == "来源渠道" and field.required and field.visible_if
    assert [(o.value, o.colour) for o in field.options] == [("fair", "amber"), ("website", "teal")]
    assert customer(app).form[0].rows[2] == ("email", "phone", "lead_source")
    created = app.extensions["apploom"].records.create(
        SYSTEM_USER, "crm.customer", {"name": "星河贸易", "kind": "company", "lead_source": "fair"}
    )
    assert created["lead_source"] == "fair"
    shown = boss.get(f"/a/crm/customer/{created['id']}").get_data(as_text=True)
    assert '<span class="badge amber">展会</span>' in shown  # the option's colour
    form = boss.get("/a/crm/customer/new").get_data(as_text=True)
    assert 'name="lead_source"' in form and "展会" in form
    with runtime.db.read() as conn:
        assert len(applied.history(conn, "crm")) == 2


def test_a_chinese_only_label_gets_a_free_name(studio):
    app, boss = studio
    for name in ("field", "field_2"):
        change = {
            "layout": layout_with(app, NEW),
            "panel": "new",
            "type": "text",
            "label_zh": "备注",
        }
        text = preview_text(
            boss.post("/studio/crm/customer/form", data=change).get_data(as_text=True)
        )
        assert f"      {name}: {{type: text, label: {{en: 备注, zh: 备注}}}}" in text
        assert f", {name}], [tier, tags]" in text
        assert (
            boss.post("/studio/crm/apply", data={"text": text, "comment": "备注"}).status_code
            == 303
        )
        boss.get("/studio/crm")


def test_the_panel_changes_a_field_and_keeps_what_it_does_not_show(studio):
    app, boss = studio
    panel = boss.get("/studio/crm/customer/form/field?name=tier").get_data(as_text=True)
    assert 'name="option_zh" value="金卡"' in panel and 'name="default" value="standard"' in panel
    assert '<option value="gold" label="金卡"></option>' in panel  # the default's choices
    change = {
        "panel": "field",
        "field": "tier",
        "label_zh": "会员等级",
        "label_en": "Tier",
        "help_zh": "按年消费定级",
        "help_en": "",
        "default": "standard",
        "option_value": ["standard", "gold", "vip"],
        "option_zh": ["普通", "金卡", "贵宾"],
        "option_en": ["Standard", "Gold", "VIP"],
        "option_colour": ["", "amber", "purple"],
        "readonly_if": "kind == 'person'",
    }
    preview = boss.post("/studio/crm/customer/form", data=change)
    assert preview.status_code == 200
    text = preview_text(preview.get_data(as_text=True))
    assert (
        "      tier: {type: select, label: {en: Tier, zh: 会员等级}, default: standard, options: "
        "[{value: standard, label: {en: Standard, zh: 普通}}, {value: gold, label: {en: Gold, "
        "zh: 金卡}, colour: amber}, {value: vip, label: {en: VIP, zh: 贵宾}, colour: purple}], "
        "help: {en: 按年消费定级, zh: 按年消费定级}, readonly_if: kind == 'person'}"
    ) in text
    tier = next(line for line in text.splitlines() if line.startswith("      tier:"))
    assert "silver" not in tier  # the option left out is gone
    assert "      email:    {type: email" in text  # the other fields as they were


def test_a_renamed_section_changes_its_own_line_only(studio):
    app, boss = studio
    sections = json.loads(layout_with(app, "kind", section=0, row=1))
    sections[0]["rows"][0].remove("kind")  # kind moves down a row, and the section is renamed
    sections[0]["zh"], sections[0]["en"] = "客户资料", "Profile"
    page = boss.post("/studio/crm/customer/form", data={"layout": json.dumps(sections)})
    assert page.status_code == 200
    assert diff_lines(page.get_data(as_text=True)) == [
        "-      - section: {en: Customer, zh: 客户}",
        "-        rows: [[name, kind], [tier, tags], [email, phone], [language]]",
        "+      - section: {en: Profile, zh: 客户资料}",
        "+        rows: [[name], [tier, tags, kind], [email, phone], [language]]",
    ]


def test_a_section_added_at_the_end_is_written_after_the_others(studio):
    app, boss = studio
    sections = json.loads(layout_with(app, "kind", section=0, row=0))
    sections[0]["rows"][0] = ["name"]  # kind moves into a section of its own
    sections.append({"zh": "分类", "en": "Kind", "rows": [["kind"]]})
    page = boss.post("/studio/crm/customer/form", data={"layout": json.dumps(sections)})
    assert page.status_code == 200
    assert diff_lines(page.get_data(as_text=True)) == [
        "-        rows: [[name, kind], [tier, tags], [email, phone], [language]]",
        "+        rows: [[name], [tier, tags], [email, phone], [language]]",
        "+      - section: {en: Kind, zh: 分类}",
        "+        rows: [[kind]]",
    ]
    text = preview_text(page.get_data(as_text=True))
    assert "        rows: [[preferences]]\n      - section: {en: Kind, zh: 分类}\n" in text


def test_a_field_retired_from_its_panel_leaves_the_form_and_keeps_its_data(runtime, studio):
    app, boss = studio
    created = runtime.records.create(
        SYSTEM_USER, "crm.customer", {"name": "星河", "tags": ["retail"]}
    )
    panel = boss.get("/studio/crm/customer/form/field?name=tags").get_data(as_text=True)
    assert 'name="retire" value="1"' in panel and "停用字段（数据保留）" in panel
    new_panel = boss.get("/studio/crm/customer/form/field?type=text").get_data(as_text=True)
    assert 'name="retire"' not in new_panel  # a field not there yet has nothing to retire
    change = {"layout": layout_with(app, "tags", section=0, row=0), "panel": "field"}
    preview = boss.post(
        "/studio/crm/customer/form", data={**change, "field": "tags", "retire": "1"}
    )
    assert preview.status_code == 200
    lines = diff_lines(preview.get_data(as_text=True))
    assert "+        rows: [[name, kind], [tier], [email, phone], [language]]" in lines
    assert [line for line in lines if "tags:" in line] == [
        next(line for line in lines if line.startswith("-      tags:"))
    ]  # the layout sent with the panel is not written back with the field in it
    text = preview_text(preview.get_data(as_text=True))
    done = boss.post("/studio/crm/apply", data={"text": text, "comment": "停用标签"})
    assert done.status_code == 303
    boss.get(done.headers["Location"])
    assert "tags" not in customer(app).fields
    assert 'name="tags"' not in boss.get("/a/crm/customer/new").get_data(as_text=True)
    with runtime.db.read() as conn:  # the column is archived with its data, not dropped
        archived = table("crm_customer", column("id"), column("tags", JSON()))
        kept = conn.execute(select(archived.c.tags).where(archived.c.id == created["id"]))
        assert kept.scalar() == ["retail"]


def test_a_field_others_use_is_not_retired(runtime, studio):
    app, boss = studio
    answer = boss.post(
        "/studio/oms/order/form", data={"panel": "field", "field": "subtotal", "retire": "1"}
    )
    page = html.unescape(answer.get_data(as_text=True))
    assert "subtotal" in page and 'class="studio-apply"' not in page
    with runtime.db.read() as conn:
        assert len(applied.history(conn, "oms")) == 1


def test_a_tables_row_fields_are_changed_added_and_retired_from_the_form(runtime, studio):
    app, boss = studio
    form = boss.get("/studio/crm/customer/form").get_data(as_text=True)
    assert 'data-table="contacts" data-row-field="role">职务</button>' in form
    assert '<select data-table="contacts" data-row-new' in form
    panel = boss.get("/studio/crm/customer/form/field?table=contacts&name=role")
    shown = panel.get_data(as_text=True)
    assert 'name="table" value="contacts"' in shown and 'name="label_zh" value="职务"' in shown
    assert boss.get("/studio/crm/customer/form/field?table=tier&name=role").status_code == 404
    relabelled = boss.post(
        "/studio/crm/customer/form",
        data={
            "panel": "field",
            "table": "contacts",
            "field": "role",
            "label_zh": "岗位",
            "label_en": "Role",
        },
    )
    assert diff_lines(relabelled.get_data(as_text=True)) == [
        "-      role:  {type: text, label: {en: Role, zh: 职务}, length: 80}",
        "+      role: {type: text, label: {en: Role, zh: 岗位}, length: 80}",
    ]  # the contact's field: the customer's form is as it was
    added = boss.post(
        "/studio/crm/customer/form",
        data={
            "layout": layout_with(app, "tier", section=0, row=1).replace('"tier", ', "", 1),
            "panel": "new",
            "table": "contacts",
            "type": "text",
            "label_zh": "微信",
            "label_en": "WeChat",
        },
    )
    text = preview_text(added.get_data(as_text=True))
    contact = text.split("\n  contact:\n")[1].split("\n\n")[0]
    assert "      wechat: {type: text, label: {en: WeChat, zh: 微信}}" in contact
    assert "wechat" not in text.split("\n  contact:\n")[0]  # not a field of the customer
    assert "新增列 crm_contact.wechat" in html.unescape(added.get_data(as_text=True))
    assert boss.post("/studio/crm/apply", data={"text": text, "comment": "微信"}).status_code == 303
    boss.get("/studio/crm")
    customer_form = boss.get("/a/crm/customer/new").get_data(as_text=True)
    assert "<th>微信</th>" in customer_form  # a column of each contact row
    made = app.extensions["apploom"].records.create(
        SYSTEM_USER, "crm.customer", {"name": "星河", "contacts": [{"name": "王", "wechat": "wx1"}]}
    )
    assert made["contacts"][0]["wechat"] == "wx1"
    retired = boss.post(
        "/studio/crm/customer/form",
        data={"panel": "field", "table": "contacts", "field": "wechat", "retire": "1"},
    )
    assert diff_lines(retired.get_data(as_text=True)) == [
        "-      wechat: {type: text, label: {en: WeChat, zh: 微信}}"
    ]
    wrong = boss.post(
        "/studio/crm/customer/form",
        data={"panel": "new", "table": "tier", "type": "text", "label_zh": "甲"},
    )
    assert wrong.status_code == 422 and "“tier”不是此表单的明细表" in html.unescape(
        wrong.get_data(as_text=True)
    )


def test_a_name_the_records_already_have_is_not_made(studio):
    app, boss = studio
    change = {"layout": layout_with(app, NEW), "panel": "new", "type": "date"}
    page = boss.post("/studio/crm/customer/form", data={**change, "label_en": "Created at"})
    assert "      created_at_2: {type: date" in preview_text(page.get_data(as_text=True))


def test_a_checkbox_default_is_read_as_its_type_reads_it(studio):
    app, boss = studio
    change = {"layout": layout_with(app, NEW), "panel": "new", "type": "boolean"}
    page = boss.post(
        "/studio/crm/customer/form", data={**change, "label_zh": "停用", "default": "是"}
    )
    assert (
        "      field: {type: boolean, label: {en: 停用, zh: 停用}, default: true}"
        in preview_text(page.get_data(as_text=True))
    )


def test_a_formula_from_the_palette_is_read_only_and_bounds_are_numbers(studio):
    app, boss = studio
    panel = boss.get("/studio/crm/customer/form/field?type=decimal&formula=1")
    assert 'name="formula" value="" placeholder="qty * price" required' in panel.get_data(
        as_text=True
    )
    change = {
        "layout": layout_with(app, NEW),
        "panel": "new",
        "type": "decimal",
        "label_en": "Name length",
        "formula": "len(name)",
        "min": "0",
        "max": "1,000",
    }
    text = preview_text(boss.post("/studio/crm/customer/form", data=change).get_data(as_text=True))
    assert (
        "name_length: {type: decimal, label: {en: Name length, zh: Name length}, min: 0, "
        "max: 1000, formula: len(name), readonly: true}"
    ) in text


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"panel": "new", "type": "select", "label_zh": ""}, "请用中文或英文给它起个名字"),
        ({"panel": "new", "type": "table", "label_zh": "行"}, "“table”"),
        ({"panel": "field", "field": "nope", "label_zh": "x"}, "“nope”"),
        ({"panel": "field", "field": "tier", "label_zh": "等级", "default": "x"}, "default"),
        (
            {"panel": "new", "type": "integer", "label_zh": "件数", "min": "many"},
            "件数：“many”不是数字",
        ),
        (
            {
                "panel": "new",
                "type": "select",
                "label_zh": "渠道",
                "option_value": ["a", "a"],
                "option_zh": ["甲", "乙"],
                "option_en": ["", ""],
                "option_colour": ["", ""],
            },
            "渠道：",
        ),
        ({"panel": "new", "type": "ref", "label_zh": "上级", "to": "crm.nothing"}, "crm.nothing"),
        ({"panel": "new", "type": "boolean", "label_zh": "停用", "default": "也许"}, "停用："),
        ({"layout": "[{not json"}, "布局"),
        ({"layout": json.dumps([{"en": "A", "zh": "甲", "rows": [["ghost"]]}])}, "“ghost”"),
    ],
)
def test_bad_input_is_named_and_changes_nothing(runtime, studio, change, said):
    app, boss = studio
    answer = boss.post("/studio/crm/customer/form", data=change)
    page = html.unescape(answer.get_data(as_text=True))
    assert answer.status_code in (200, 422)
    assert said in page, page[page.find('class="flash error"') - 200 :][:800]
    if answer.status_code == 200:  # refused by the definition's own check
        assert 'class="studio-apply"' not in page or "default" in page
    with runtime.db.read() as conn:
        assert len(applied.history(conn, "crm")) == 1


def test_an_options_colour_is_one_of_the_badges(runtime, studio):
    app, boss = studio
    with runtime.db.read() as conn:
        live = applied.source_of(conn, "crm").text
    coloured = live.replace(
        "{value: gold, label: {en: Gold, zh: 金卡}}",
        "{value: gold, label: {en: Gold, zh: 金卡}, colour: pink}",
        1,
    )
    assert coloured != live
    page = html.unescape(
        boss.post("/studio/crm/check", data={"text": coloured}).get_data(as_text=True)
    )
    assert "entities.customer.fields.tier.options.2.colour" in page and "pink" in page
    fine = coloured.replace("colour: pink", "colour: amber")
    assert "options.2.colour" not in boss.post("/studio/crm/check", data={"text": fine}).get_data(
        as_text=True
    )


def test_the_designers_are_for_admins_and_need_the_forms_token(runtime, studio):
    app, boss = studio
    runtime.users.create("sue", ["sales"], "password1234")
    sue = browser(app, "sue")
    for url in (
        "/studio/crm/customer/form",
        "/studio/crm/customer/form/field?name=tier",
        "/studio/crm/customer/list",
    ):
        assert sue.get(url).status_code == 403, url
    added = {"layout": layout_with(app, NEW), "panel": "new", "type": "text", "label_zh": "备注"}
    assert sue.post("/studio/crm/customer/form", data=added).status_code == 403
    forged = boss.client.post("/studio/crm/customer/form", data=added)
    assert forged.status_code in (400, 403)
    assert boss.get("/studio/crm/contact/form").status_code == 404  # a table's rows
    with runtime.db.read() as conn:
        assert len(applied.history(conn, "crm")) == 1


def test_each_type_gets_the_panel_its_settings_need(studio):
    app, boss = studio

    def panel(query: str) -> str:
        return boss.get(f"/studio/oms/order/form/field?{query}").get_data(as_text=True)

    status = panel("name=status")  # the workflow's: its states are changed on the diagram
    assert 'name="label_zh" value="状态"' in status and 'name="option_zh"' not in status
    assert 'name="visible_if"' not in status and 'name="default"' not in status
    money = panel("type=money")
    assert 'name="min"' in money and 'name="formula"' in money and 'name="to"' not in money
    ref = panel("type=ref")
    assert '<option value="crm.customer" >客户 (crm.customer)</option>' in ref
    tags = panel("type=multiselect")
    assert 'name="option_colour"' in tags and 'name="unique"' not in tags
    assert boss.get("/studio/oms/order/form/field?type=nothing").status_code == 404


def test_several_choices_show_each_chosen_option_in_its_colour(studio):
    app, boss = studio
    change = {
        "panel": "field",
        "field": "tags",
        "label_zh": "标签",
        "label_en": "Tags",
        "option_value": ["wholesale", "retail", "online"],
        "option_zh": ["批发", "零售", "线上"],
        "option_en": ["Wholesale", "Retail", "Online"],
        "option_colour": ["blue", "", "green"],
    }
    text = preview_text(boss.post("/studio/crm/customer/form", data=change).get_data(as_text=True))
    assert boss.post("/studio/crm/apply", data={"text": text, "comment": "标签"}).status_code == 303
    boss.get("/studio/crm")
    created = app.extensions["apploom"].records.create(
        SYSTEM_USER, "crm.customer", {"name": "丁店", "tags": ["online", "retail", "wholesale"]}
    )
    page = boss.get(f"/a/crm/customer/{created['id']}").get_data(as_text=True)
    assert re.findall(r'<span class="badge (\w+)">(.*?)</span>', page) == [
        ("blue", "批发"),
        ("grey", "零售"),
        ("green", "线上"),
    ]
    listed = boss.post(
        "/studio/crm/customer/list/preview",
        data={"columns": ["name", "tags"]},
        headers={"HX-Request": "true"},
    ).get_data(as_text=True)
    assert '<span class="badge green">线上</span>' in listed
