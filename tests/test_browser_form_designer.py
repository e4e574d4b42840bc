"""The studio's form designer in headless Chromium, in Chinese: an admin drags a choice
field from the palette into the customer form, names it, gives it coloured options and
a condition, previews the change (the new form drawn beside the plan), applies it, and
a new customer's form shows the field once the condition holds. The list designer's
preview follows the ticks and the columns dragged. On a phone the designers fit the
screen's width. Screenshots go to /tmp/form-designer-*.png."""

from __future__ import annotations

import pytest

from apploom.engine.access.permissions import SYSTEM_USER
from tests.helpers import serving
from tests.test_browser import CHROMIUM, checked_page, playwright, settled
from tests.test_browser import drag as drag_before

pytestmark = pytest.mark.skipif(
    not CHROMIUM, reason="Chromium is not installed (.ci/run installs Debian's chromium)"
)
DESKTOP, PHONE = {"width": 1280, "height": 800}, {"width": 390, "height": 844}


@pytest.fixture
def served(sqlite_runtime):
    sqlite_runtime.users.create("boss", ["admin"], "password1234", display_name="老板")
    for name, tier in (("甲公司", "gold"), ("乙商店", "standard")):
        sqlite_runtime.records.create(SYSTEM_USER, "crm.customer", {"name": name, "tier": tier})
    with serving(sqlite_runtime) as url:
        yield url


def signed_in(page, server: str) -> None:
    page.goto(server + "/lang/zh?next=/login")
    page.fill("input[name=username]", "boss")
    page.fill("input[name=password]", "password1234")
    page.click("button[type=submit]")
    playwright.expect(page.locator("html")).to_have_attribute("lang", "zh-CN")


def drag(page, source, target) -> None:
    """A drag as a hand makes it, in small steps (SortableJS follows the pointer), into
    ``target`` (a row: after what it holds)."""
    start, end = source.bounding_box(), target.bounding_box()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(start["x"] + 10, start["y"] + 10, steps=3)
    page.mouse.move(end["x"] + end["width"] - 8, end["y"] + end["height"] / 2, steps=15)
    page.mouse.up()


def sideways(page) -> list[int]:
    return page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")


def test_an_admin_adds_a_coloured_choice_with_a_condition(served):
    expect = playwright.expect
    with checked_page(viewport=DESKTOP) as page:
        signed_in(page, served)
        page.goto(served + "/studio/crm")
        page.locator(".entity-card[data-entity=customer] a:text('表单')").click()
        designer = page.locator("[data-form-designer]")
        expect(designer.locator(".fd-field[data-field=tier] select")).to_be_disabled()
        expect(designer.locator(".fd-field[data-field=tier] label")).to_have_text("客户等级")
        assert sideways(page)[0] <= sideways(page)[1]
        page.screenshot(path="/tmp/form-designer-1-open.png", full_page=True)

        row = designer.locator(".layout-section").first.locator(".layout-row").nth(2)
        drag(page, page.locator(".fd-type[data-type=select]"), row)
        expect(row.locator(".fd-field.fd-new")).to_have_count(1)
        panel = page.locator("#field-panel")
        expect(panel.locator("input[name=label_zh]")).to_be_focused()
        panel.locator("button:text('预览')").click()  # not sent without a name
        said = panel.locator("input[name=label_zh]").evaluate("input => input.validationMessage")
        assert said == "请用中文或英文给字段起个名字。"
        expect(page.locator("pre.diff")).to_have_count(0)
        panel.locator("input[name=label_zh]").fill("来源渠道")
        expect(row.locator(".fd-new label")).to_have_text("来源渠道")
        panel.locator("input[name=label_en]").fill("Lead source")
        first = panel.locator("[data-option-rows] tr").nth(0)
        first.locator("input[name=option_zh]").fill("展会")
        first.locator("input[name=option_en]").fill("Fair")
        first.locator("select[name=option_colour]").select_option("amber")
        panel.locator("button:text('+ 选项')").click()
        second = panel.locator("[data-option-rows] tr").nth(1)
        second.locator("input[name=option_zh]").fill("网站")
        second.locator("input[name=option_en]").fill("Website")
        second.locator("select[name=option_colour]").select_option("teal")
        panel.locator("select[data-insert=visible_if]").select_option("kind")
        panel.locator("input[name=visible_if]").press("End")
        panel.locator("input[name=visible_if]").type(" == 'company'")
        expect(panel.locator("input[name=visible_if]")).to_have_value("kind == 'company'")
        page.screenshot(path="/tmp/form-designer-2-panel.png", full_page=True)
        page.click("button:text('+ 分组')")  # a section of its own for the preferences
        added = designer.locator(".layout-section").last
        added.locator("input[data-label=zh]").fill("备注")
        added.locator("input[data-label=en]").fill("Notes")
        drag(
            page,
            designer.locator(".fd-field[data-field=preferences]"),
            added.locator(".layout-row"),
        )
        expect(added.locator(".fd-field[data-field=preferences]")).to_have_count(1)
        panel.locator("button:text('预览')").click()

        expect(page.locator("pre.diff")).to_contain_text("lead_source: {type: select")
        expect(page.locator(".plan")).to_contain_text("lead_source")
        rendered = page.locator(".fd-rendered")
        expect(rendered.locator(".fd-field[data-field=lead_source] label")).to_have_text("来源渠道")
        expect(rendered.locator(".fd-field[data-field=lead_source] .badge.amber")).to_have_text(
            "展会"
        )
        notes = rendered.locator(".form-section:has(h3:text-is('备注'))")
        expect(notes.locator(".fd-field")).to_have_attribute("data-field", "preferences")
        expect(page.locator("pre.diff")).not_to_contain_text("section: {en: More")
        page.screenshot(path="/tmp/form-designer-3-preview.png", full_page=True)
        page.fill("input[name=comment]", "新增来源渠道")
        page.click("button:text('应用')")
        expect(page.locator(".versions")).to_contain_text("新增来源渠道")

        page.goto(served + "/a/crm/customer/new")
        field = page.locator(".field[data-state=lead_source]")
        expect(field).to_be_hidden()  # a person's record: the condition does not hold
        page.select_option("select[name=kind]", "company")
        expect(field).to_be_visible()
        expect(field.locator("label")).to_contain_text("来源渠道")
        expect(field.locator("select option")).to_have_text(["—", "展会", "网站"])
        page.screenshot(path="/tmp/form-designer-4-record.png", full_page=True)


def test_an_admin_adds_a_field_to_each_order_line(served):
    """The order lines' fields as chips under the table: one opens its panel, a type
    picked beside them adds a field to every line, previewed as the order's form."""
    expect = playwright.expect
    with checked_page(viewport=DESKTOP) as page:
        signed_in(page, served)
        page.goto(served + "/studio/oms/order/form")
        lines = page.locator(".fd-field[data-field=lines]")
        lines.locator("button[data-row-field=qty]").click()
        panel = page.locator("#field-panel")
        expect(panel.locator("input[name=label_zh]")).to_have_value("数量")
        expect(panel.locator("h2")).to_contain_text("订单行")
        expect(lines).not_to_have_class("fd-field selected")  # the row field is, not the table
        settled(page)
        lines.locator("select[data-row-new]").select_option(label="单行文本")
        expect(panel.locator("input[name=type]")).to_have_value("text")
        expect(panel.locator("input[name=table]")).to_have_value("lines")
        panel.locator("input[name=label_zh]").fill("刻字内容")
        panel.locator("input[name=label_en]").fill("Engraving")
        page.screenshot(path="/tmp/form-designer-5-row-field.png", full_page=True)
        panel.locator("button:text('预览')").click()
        expect(page.locator("pre.diff")).to_contain_text(
            "+      engraving: {type: text, label: {en: Engraving, zh: 刻字内容}}"
        )
        drawn = page.locator(".fd-rendered[data-entity=order] .fd-rows")
        expect(drawn).to_contain_text("刻字内容")  # the order's form as it would be
        page.screenshot(path="/tmp/form-designer-6-row-preview.png", full_page=True)


def test_on_a_phone_nothing_of_the_designer_runs_off_the_side(served):
    expect = playwright.expect
    with checked_page(viewport=PHONE, has_touch=True) as page:
        signed_in(page, served)
        page.goto(served + "/studio/oms/order/form")
        expect(page.locator(".fd-field[data-field=customer]")).to_be_visible()
        width, screen = sideways(page)
        assert width <= screen, f"the designer scrolls sideways: {width} > {screen}"
        page.locator(".fd-field[data-field=channel]").click()
        expect(page.locator("#field-panel input[name=label_zh]")).to_have_value("渠道")
        width, screen = sideways(page)
        assert width <= screen, f"the panel scrolls sideways: {width} > {screen}"
        page.screenshot(path="/tmp/form-designer-phone.png", full_page=True)
        page.locator(".fd-type[data-type=date]").tap()  # a tap adds it at the end
        added = page.locator(".layout-section").last.locator(".fd-field.fd-new")
        expect(added).to_have_count(1)
        expect(page.locator("#field-panel input[name=label_zh]")).to_be_focused()
        assert sideways(page)[0] <= sideways(page)[1]


def test_the_list_preview_follows_the_ticks_and_the_order(served):
    expect = playwright.expect
    for size in (DESKTOP, PHONE):
        with checked_page(viewport=size, has_touch=size is PHONE) as page:
            signed_in(page, served)
            page.goto(served + "/studio/crm")
            page.locator(".entity-card[data-entity=customer] a:text('列表')").click()
            preview = page.locator("#list-preview")
            expect(preview.locator("th").nth(2)).to_have_text("类型")
            page.locator("input[name=columns][value=kind]").uncheck()
            expect(preview.locator("th").nth(2)).to_have_text("客户等级")
            page.locator("input[name=columns][value=phone]").check()
            expect(preview.locator("th").last).to_have_text("电话")
            if size is DESKTOP:  # dragged: 电话 before 名称
                settled(page)
                phone = page.locator(".ld-columns li:has(input[value=phone]) .ld-handle")
                name = page.locator(".ld-columns li:has(input[value=name])")
                drag_before(page, phone, name)  # well past the middle of 名称
                expect(preview.locator("th").nth(1)).to_have_text("电话")
            page.select_option("select[name=sort]", "tier")
            # by name 乙商店 comes first; by tier, gold before standard
            expect(preview.locator("tbody tr").first).to_contain_text("甲公司")
            width, screen = sideways(page)
            assert width <= screen, f"the list designer scrolls sideways: {width} > {screen}"
            page.screenshot(path=f"/tmp/form-designer-list-{size['width']}.png", full_page=True)
            page.click("button:text('预览修改')")
            expect(page.locator("pre.diff")).to_contain_text("columns:")
