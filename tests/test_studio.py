"""The studio: an admin changes an app's definition in the browser, previews what it
does, applies it (served from the next request on), and rolls it back with the data."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import inspect

from apploom.engine.definitions.reading import read_document
from apploom.engine.errors import ValidationFailed
from apploom.engine.versions import applied, text_edits
from apploom.web import create_app
from tests.helpers import browser

CITY = "      city:     {type: text, label: {en: City, zh: 城市}, length: 60}\n"
REGION = CITY + "      region:   {type: text, label: {en: Region, zh: 区域}, length: 40}\n"


@pytest.fixture
def studio(runtime):
    runtime.users.create("boss", ["admin"], "password1234")
    runtime.users.create("sue", ["sales"], "password1234")
    app = create_app(runtime=runtime)
    return app, browser(app, "boss")


def live_text(runtime, app="crm"):
    with runtime.db.read() as conn:
        return applied.source_of(conn, app).text


def test_only_admins_reach_the_studio(studio):
    app, boss = studio
    assert "crm" in boss.get("/studio/").get_data(as_text=True)
    assert browser(app, "sue").get("/studio/").status_code == 403


def test_problems_show_at_their_line_as_the_admin_types(runtime, studio):
    _, boss = studio
    text = live_text(runtime).replace("type: email", "type: emial")
    answer = boss.post("/studio/crm/check", data={"text": text}).get_data(as_text=True)
    line = text.splitlines().index(next(t for t in text.splitlines() if "emial" in t)) + 1
    assert f'data-line="{line}"' in answer and "&#39;emial&#39; is not a field type" in answer
    good = boss.post("/studio/crm/check", data={"text": live_text(runtime)})
    assert "No problems." in good.get_data(as_text=True)
    other = boss.post("/studio/crm/check", data={"text": live_text(runtime, "wms")})
    assert "must say &#39;app: crm&#39;" in other.get_data(as_text=True)


def test_a_field_added_in_the_studio_is_a_column_an_input_and_an_api_field(runtime, studio):
    app, boss = studio
    text = live_text(runtime).replace(CITY, REGION)
    preview = boss.post("/studio/crm/preview", data={"text": text}).get_data(as_text=True)
    assert "add column crm_customer.region" in preview
    assert "existing row(s) start empty" in preview or "(no schema change)" not in preview
    done = boss.post("/studio/crm/apply", data={"text": text, "comment": "regions"})
    assert done.status_code == 303
    with runtime.db.read() as conn:
        assert "region" in {c["name"] for c in inspect(conn).get_columns("crm_customer")}
    form = boss.get("/a/crm/customer/new").get_data(as_text=True)
    assert 'name="region"' in form  # served from the next request
    document = app.test_client().get("/api/v1/openapi.json").json
    assert "region" in document["components"]["schemas"]["crm_customer"]["properties"]
    made = app.extensions["apploom"].records.create(
        app.extensions["apploom"].users.get("boss"),
        "crm.customer",
        {"name": "North Co", "region": "华北"},
    )
    assert made["region"] == "华北"
    history = boss.get("/studio/crm").get_data(as_text=True)
    assert "v2" in history and "regions" in history and "<td>boss</td>" in history


def test_a_rollback_previews_then_archives_and_a_second_brings_the_data_back(runtime, studio):
    app, boss = studio
    boss.post(
        "/studio/crm/apply",
        data={"text": live_text(runtime).replace(CITY, REGION), "comment": "regions"},
    )
    boss.get("/studio/")  # the app reloads its definitions
    rt = app.extensions["apploom"]
    kept = rt.records.create(
        rt.users.get("boss"), "crm.customer", {"name": "North Co", "region": "华北"}
    )
    page = boss.get("/studio/crm/versions/1").get_data(as_text=True)
    assert "-      region:" in page and "archive column crm_customer.region (data kept)" in page
    assert "1 of " in page and "have a value in region" in page
    assert boss.post("/studio/crm/versions/1/rollback").status_code == 303
    assert 'name="region"' not in boss.get("/a/crm/customer/new").get_data(as_text=True)
    assert boss.post("/studio/crm/versions/2/rollback").status_code == 303
    rt = app.extensions["apploom"]
    boss.get("/studio/")
    rt = app.extensions["apploom"]
    assert rt.records.get(rt.users.get("boss"), "crm.customer", kept["id"])["region"] == "华北"
    versions_listed = re.findall(r"<td>v(\d+)", boss.get("/studio/crm").get_data(as_text=True))
    assert versions_listed == ["4", "3", "2", "1"]


def test_an_apply_that_would_lose_data_is_refused_and_changes_nothing(runtime, studio):
    app, boss = studio
    rt = app.extensions["apploom"]
    rt.records.create(rt.users.get("boss"), "crm.customer", {"name": "A", "city": "上海"})
    text = live_text(runtime).replace(CITY, "      city:     {type: integer}\n")
    refused = boss.post("/studio/crm/apply", data={"text": text, "comment": "oops"})
    assert refused.status_code == 422
    assert "crm_customer.city" in refused.get_data(as_text=True)
    assert live_text(runtime) != text
    with runtime.db.read() as conn:
        assert [r["version"] for r in applied.history(conn, "crm")] == [1]


def test_forms_edit_the_text_in_place_and_only_what_they_change(runtime):
    text = live_text(runtime)
    added = text_edits.add_field(
        text, "customer", "region", {"type": "text", "label": {"en": "Region", "zh": "区域"}}
    )
    assert added.replace("      region: {type: text, label: {en: Region, zh: 区域}}\n", "") == text
    retired = text_edits.retire_field(text, "customer", "city")
    assert "city" not in retired.split("  contact:")[0].split("customer:")[1]
    assert retired.count("\n") == text.count("\n") - 1  # the field's one line only
    changed = text_edits.change_field(text, "customer", "tier", {"required": True})
    assert (
        "      tier: {type: select, label: {en: Tier, zh: 客户等级}, default: standard" in changed
        and changed.count("\n") < text.count("\n")
    )
    with pytest.raises(ValidationFailed) as caught:
        text_edits.add_field(text, "customer", "city", {"type": "text"})
    assert caught.value.fields == {"name": "customer already has a field 'city'"}


def test_sections_are_added_after_the_last_and_a_first_key_is_rewritten_in_place():
    text = (
        "entities:\n  note:\n    form:\n      - section: {en: A, zh: 甲}  # the first\n"
        "        rows: [[title]]\n\n      # kept with what follows\n    list: {columns: [title]}\n"
    )
    added = text_edits.append_items(
        text,
        ("entities", "note", "form"),
        [{"section": {"en": "B", "zh": "乙"}, "rows": [["body"]]}],
    )
    assert added == text.replace(
        "rows: [[title]]\n",
        "rows: [[title]]\n      - section: {en: B, zh: 乙}\n        rows: [[body]]\n",
    )
    renamed = text_edits.set_block(
        text, ("entities", "note", "form", 0, "section"), {"en": "C", "zh": "丙"}
    )
    assert renamed == text.replace("{en: A, zh: 甲}  # the first", "{en: C, zh: 丙}  # the first")
    flow = "entities:\n  note:\n    form: [{section: A, rows: [[title]]}]\n"
    with pytest.raises(ValidationFailed):
        text_edits.append_items(flow, ("entities", "note", "form"), [{"section": "B", "rows": []}])


def test_a_rule_is_rewritten_in_its_place_whether_written_as_lines_or_in_one():
    one_line = (
        "app: x\nentities:\n  t:\n    fields: {a: {type: integer}}\n"
        "    rules: [{name: r1, on: created, do: [{set: {a: '1'}}]}, "
        "{name: r2, on: deleted, do: [{set: {a: '2'}}]}]\n  u:\n    fields: {}\n"
    )
    rule = {"name": "r1", "on": "updated", "do": [{"set": {"a": "3"}}]}
    changed = text_edits.change_rule(one_line, "t", 0, rule)
    assert text_edits.rules_of(changed, "t") == [rule, text_edits.rules_of(one_line, "t")[1]]
    assert changed.endswith("  u:\n    fields: {}\n")
    removed = text_edits.change_rule(one_line, "t", 1, None)
    assert [r["name"] for r in text_edits.rules_of(removed, "t")] == ["r1"]
    assert "rules" not in text_edits.change_rule(removed, "t", 0, None)
    with pytest.raises(ValidationFailed):
        text_edits.change_rule(one_line, "t", 2, rule)
    texts = (
        "app: x\nentities:\n  t:\n    fields: {a: {type: integer}}\n    rules:\n"
        "      - name: r1\n        on: created\n        do:\n          - email:\n"
        "              to: a@example.com\n              body: |\n                Hi\n"
        "                # {a}\n"
    )
    added = text_edits.add_rule(texts, "t", rule | {"name": "r2"})
    assert text_edits.rules_of(added, "t")[0]["do"][0]["email"]["body"] == "Hi\n# {a}\n"


def test_the_studio_forms_add_a_field_and_a_status_for_preview(runtime, studio):
    _, boss = studio
    page = boss.post(
        "/studio/crm/edit",
        data={
            "text": live_text(runtime),
            "edit": "add_field",
            "entity": "customer",
            "name": "region",
            "type": "select",
            "label_en": "Region",
            "label_zh": "区域",
            "options": "north, south",
        },
    ).get_data(as_text=True)
    assert "add column crm_customer.region" in page
    assert "region: {type: select, label: {en: Region, zh: 区域}, options: [north, south]}" in page
    status = boss.post(
        "/studio/crm/edit",
        data={
            "text": live_text(runtime),
            "edit": "add_state",
            "state_entity": "opportunity",
            "state_name": "negotiating",
            "state_label_en": "Negotiating",
            "colour": "amber",
            "transition": "negotiate",
            "from": "qualified",
            "then_to": "won",
            "roles": "sales, manager",
        },
    ).get_data(as_text=True)
    assert "negotiating: {label: {en: Negotiating, zh: Negotiating}, colour: amber}" in status
    assert "No problems." in status
    between = boss.post(
        "/studio/oms/edit",
        data={
            "text": live_text(runtime, "oms"),
            "edit": "add_state",
            "state_entity": "order",
            "state_name": "checked",
            "state_label_en": "Checked",
            "transition": "check",
            "from": "confirmed",
            "then_to": "picking",
        },
    ).get_data(as_text=True)
    assert (
        "checked: {label: {en: Checked, zh: Checked}, colour: grey, readonly: [customer, lines]}"
        in between
    )
    bad = boss.post(
        "/studio/crm/edit",
        data={
            "text": live_text(runtime),
            "edit": "add_field",
            "entity": "customer",
            "name": "Bad Name",
        },
    )
    assert bad.status_code == 422 and "lower-case letters" in bad.get_data(as_text=True)


def test_list_settings_and_permissions_are_forms_too(runtime, studio):
    app, boss = studio
    page = boss.get("/studio/crm/customer/list").get_data(as_text=True)
    for name in ("number", "name", "kind", "tier", "city", "email", "created_at"):
        assert f'name="columns" value="{name}" checked' in page
    preview = boss.post(
        "/studio/crm/customer/list",
        data={
            "columns": ["name", "city"],
            "filters": "city",
            "search": "name",
            "sort": "created_at",
            "sort_desc": "1",
        },
    ).get_data(as_text=True)
    assert "columns: [name, city]" in preview and "No problems." in preview
    matrix = boss.get("/studio/crm/permissions").get_data(as_text=True)
    assert 'name="sales:create"' in matrix
    form = {
        f"{role}:{action}": "all"
        for role in ("sales", "service", "manager")
        for action in ("read", "create", "update", "delete")
    }
    form.update(
        {"sales:delete": "", "sales:update": "own", "service:create": "", "service:delete": ""}
    )
    preview = boss.post("/studio/crm/permissions", data=form).get_data(as_text=True)
    assert 'sales: [read, create, "update:own"]' in html.unescape(preview)
    assert "manager: all" in preview
    text = html.unescape(
        preview.split('id="definition"')[1].split(">", 1)[1].split("</textarea>")[0]
    )
    assert (
        boss.post("/studio/crm/apply", data={"text": text, "comment": "tighter"}).status_code == 303
    )
    rt = app.extensions["apploom"]
    boss.get("/studio/")  # served from the next request
    rt = app.extensions["apploom"]
    assert rt.apps.apps["crm"].permissions["sales"] == {
        "read": "all",
        "create": "all",
        "update": "own",
    }


def test_an_entity_may_have_its_own_permissions_and_give_them_back(runtime, studio):
    app, boss = studio
    matrix = boss.get("/studio/oms/permissions?entity=return").get_data(as_text=True)
    assert 'name="entity" value="return"' in matrix and "Use the app" in matrix
    form = {
        "entity": "return",
        "service:read": "all",
        "service:create": "all",
        "manager:read": "all",
        "warehouse:read": "all",
        "warehouse:update": "own",
    }
    preview = html.unescape(boss.post("/studio/oms/permissions", data=form).get_data(as_text=True))
    text = definition_in(preview)
    given = read_document("x", text).data["entities"]["return"]["permissions"]
    assert given["warehouse"] == ["read", "update:own"] and "No problems." in preview
    blocks = app.extensions["apploom"].apps.apps["oms"].source.count("permissions:")
    assert text.count("permissions:") == blocks and "  sales: [read, create, update]\n" in text
    assert (
        boss.post("/studio/oms/apply", data={"text": text, "comment": "returns"}).status_code == 303
    )
    boss.get("/studio/")
    returns = app.extensions["apploom"].apps.apps["oms"].entities["return"]
    assert returns.permissions["warehouse"] == {"read": "all", "update": "own"}
    assert "sales" not in returns.permissions

    inherit = html.unescape(
        boss.post("/studio/oms/permissions", data={"entity": "return", "inherit": "1"}).get_data(
            as_text=True
        )
    )
    assert definition_in(inherit).count("permissions:") == blocks - 1 and "No problems." in inherit
    unknown = boss.post("/studio/oms/permissions", data={"entity": "nope"})
    assert unknown.status_code == 422


def definition_in(page: str) -> str:
    """The definition's text in a studio page (unescaped)."""
    return page.split('id="definition"')[1].split(">", 1)[1].split("</textarea>")[0]


def test_rules_and_reports_are_forms_too(runtime, studio):
    app, boss = studio
    rule = boss.post(
        "/studio/crm/edit",
        data={
            "text": live_text(runtime),
            "edit": "add_rule",
            "rule_entity": "customer",
            "rule_name": "vip_welcome",
            "rule_on": "created",
            "rule_if": "tier == 'vip'",
            "rule_do": "notify",
            "notify_roles": "manager",
            "notify_message": "New VIP {name}",
        },
    ).get_data(as_text=True)
    assert "vip_welcome" in rule and "No problems." in rule
    text = html.unescape(rule.split('id="definition"')[1].split(">", 1)[1].split("</textarea>")[0])
    report = boss.post(
        "/studio/crm/edit",
        data={
            "text": text,
            "edit": "add_report",
            "report_name": "by_tier",
            "report_label_en": "Customers by tier",
            "report_entity": "customer",
            "report_rows": "tier",
            "measure_kind": "count",
            "report_chart": "pie",
            "report_dashboard": "1",
        },
    ).get_data(as_text=True)
    assert "No problems." in report and "{report: by_tier}" in report
    text = html.unescape(
        report.split('id="definition"')[1].split(">", 1)[1].split("</textarea>")[0]
    )
    assert (
        boss.post("/studio/crm/apply", data={"text": text, "comment": "vip and tiers"}).status_code
        == 303
    )
    boss.get("/studio/")
    rt = app.extensions["apploom"]
    rt.users.create("max", ["manager"], "password1234")
    rt.records.create(rt.users.get("boss"), "crm.customer", {"name": "Big", "tier": "vip"})
    assert any(
        "New VIP Big" in n["message"] for n in rt.notifications.latest(rt.users.get("max"), "en")
    )
    assert "Customers by tier" in boss.get("/a/crm").get_data(as_text=True)
    missing = boss.post(
        "/studio/crm/edit",
        data={
            "text": text,
            "edit": "add_rule",
            "rule_entity": "customer",
            "rule_name": "x",
            "rule_do": "",
        },
    )
    assert missing.status_code == 422


def test_a_rule_is_changed_turned_off_and_removed_with_its_form(runtime, studio):
    app, boss = studio
    page = html.unescape(boss.get("/studio/crm/lead/rules/0").get_data(as_text=True))
    assert 'value="transition:convert" selected' in page
    assert "name=\"a0.v1\" value=\"'company' if company else 'person'\"" in page
    assert '<option value="contacts" selected>' in page  # a table's rows, as an expression
    form = {
        "rule_on": "transition:convert",
        "if_mode": "text",
        "rule_if": "expected_amount > 0",
        "a0:kind": "create",
        "a0.entity": "crm.customer",
        **{f"a0.f{n}": f for n, f in enumerate(("name", "kind", "email", "phone", "city"))},
        "a0.v0": "company or name",
        "a0.v1": "'company' if company else 'person'",
        "a0.v2": "email",
        "a0.v3": "phone",
        "a0.v4": "city",
        "a0.f5": "contacts",
        "a0.v5": "[]",
        "a1:kind": "set",
        "a1.f0": "customer",
        "a1.v0": "created",
        "a2:kind": "create",
        "a2:remove": "1",
        "a3:kind": "notify",
        "a3.roles": "manager",
        "a3.message_en": "Won {name}",
    }
    preview = html.unescape(boss.post("/studio/crm/lead/rules/0", data=form).get_data(as_text=True))
    text = definition_in(preview)
    assert "No problems." in preview and "        enabled: false\n" in text
    assert "        if: expected_amount > 0\n" in text and "crm.opportunity" not in text
    notify = '          - notify: {roles: [manager], message: "Won {name}"}\n'
    assert notify in text and "      - name: welcome_call\n        label:" in text
    rule = text_edits.rules_of(text, "lead")[0]
    assert [next(iter(a)) for a in rule["do"]] == ["create", "set", "notify"]
    assert rule["do"][0]["create"]["values"]["contacts"] == "[]"
    assert (
        boss.post("/studio/crm/apply", data={"text": text, "comment": "quiet"}).status_code == 303
    )
    boss.get("/studio/")
    rt = app.extensions["apploom"]
    [convert] = rt.apps.apps["crm"].entities["lead"].rules
    assert not convert.enabled and convert.condition == "expected_amount > 0"
    assert "off" in boss.get("/studio/crm/lead/rules").get_data(as_text=True)

    gone = html.unescape(
        boss.post("/studio/crm/customer/rules/0", data={"remove": "1"}).get_data(as_text=True)
    )
    assert "welcome_call" not in definition_in(gone) and "No problems." in gone
    empty = boss.post(
        "/studio/crm/lead/rules/0",
        data={"rule_on": "created", "rule_enabled": "1", **{f"a{i}:remove": "1" for i in range(3)}},
    )
    assert empty.status_code == 422 and "remove the rule instead" in empty.get_data(as_text=True)
    cron = boss.post("/studio/crm/lead/rules/0", data={"rule_on": "schedule"})
    assert cron.status_code == 422 and "cron expression" in cron.get_data(as_text=True)
    assert boss.get("/studio/crm/lead/rules/7").status_code == 404
    assert boss.get("/studio/crm/nope/rules/0").status_code == 404


def test_a_rule_keeps_the_lines_of_its_texts_and_bad_addresses_are_not_found(runtime, studio):
    _, boss = studio
    rules = text_edits.rules_of(live_text(runtime, "oms"), "order")
    index = next(i for i, r in enumerate(rules) if r["name"] == "tell_customer_backordered")
    body = rules[index]["do"][1]["email"]["body"]["zh"]
    page = boss.get(f"/studio/oms/order/rules/{index}").get_data(as_text=True)
    email = rules[index]["do"][1]["email"]
    assert '<textarea name="a1.body_zh"' in page and 'name="a1.subject_en"' in page
    preview = html.unescape(
        boss.post(
            f"/studio/oms/order/rules/{index}",
            data={
                "rule_on": "transition:backorder",
                "a0:kind": "tracking_link",
                "a1:kind": "email",
                "a1.to": "{customer.email}",
                "a1.subject_zh": email["subject"]["zh"],
                "a1.subject_en": email["subject"]["en"],
                "a1.body_zh": body.replace("\n", "\r\n"),
                "a1.body_en": email["body"]["en"].replace("\n", "\r\n"),
            },
        ).get_data(as_text=True)
    )
    changed = text_edits.rules_of(definition_in(preview), "order")[index]
    assert changed["do"][1]["email"] == email and changed["enabled"] is False
    assert "No problems." in preview
    for url in (
        "/studio/nope/permissions",
        "/studio/nope/order/rules/0",
        "/studio/nope/reports/x",
        "/studio/oms/nope/form",
    ):
        assert boss.get(url).status_code == 404, url
    nobody = boss.post("/studio/oms/permissions", data={"entity": "return"})
    assert nobody.status_code == 422 and "use the app" in nobody.get_data(as_text=True)


def test_a_report_is_changed_with_its_form_and_the_dashboard_arranged(runtime, studio):
    app, boss = studio
    page = html.unescape(boss.get("/studio/oms/reports/top_customers").get_data(as_text=True))
    assert 'name="report_where" value="{status: {not_in: [draft, cancelled]}}"' in page
    assert 'name="m_revenue_of" value="total"' in page and 'name="report_limit"' in page
    form = {
        "report_label_en": "Best customers",
        "report_label_zh": "最佳客户",
        "report_rows": "customer",
        "report_filters": "order_date, channel",
        "report_where": "{status: {not_in: [draft, cancelled]}}",
        "report_sort": "-revenue",
        "report_limit": "5",
        "report_chart": "bar",
        "m_revenue_kind": "sum",
        "m_revenue_of": "total",
        "m_revenue_label_en": "Revenue",
        "m_revenue_format": "money",
        "m_orders_remove": "1",
        "m_new_name": "biggest",
        "m_new_kind": "max",
        "m_new_of": "total",
        "m_new_label_en": "Biggest order",
        "m_new_format": "money",
    }
    preview = html.unescape(
        boss.post("/studio/oms/reports/top_customers", data=form).get_data(as_text=True)
    )
    text = definition_in(preview)
    assert "No problems." in preview and "    limit: 5\n" in text
    assert (
        "      biggest: {max: total, label: {en: Biggest order, zh: Biggest order}, "
        "format: money}\n" in text
    )
    assert "{report: top_customers" not in text  # off the dashboard
    assert boss.post("/studio/oms/apply", data={"text": text, "comment": "best"}).status_code == 303
    boss.get("/studio/")
    rt = app.extensions["apploom"]
    [report] = [r for r in rt.apps.apps["oms"].reports if r.name == "top_customers"]
    assert [m.name for m in report.measures] == ["revenue", "biggest"] and report.limit == 5
    assert report.label.zh == "最佳客户"

    tiles = [t.report for t in rt.apps.apps["oms"].dashboard.tiles]
    arranged = {
        "date_range": "this_year",
        "t0_place": "9",
        "t0_width": "1",
        "t1_remove": "1",
        "tile_report": "top_customers",
        **{f"t{i}_place": str(i + 1) for i in range(2, len(tiles))},
    }
    preview = html.unescape(
        boss.post("/studio/oms/dashboard", data=arranged).get_data(as_text=True)
    )
    dashboard = read_document("x", definition_in(preview)).data["dashboard"]
    assert dashboard["date_range"] == "this_year" and "No problems." in preview
    assert [t["report"] for t in dashboard["tiles"]] == [*tiles[2:], tiles[0], "top_customers"]
    gone = html.unescape(
        boss.post("/studio/oms/reports/revenue", data={"remove": "1"}).get_data(as_text=True)
    )
    assert "  revenue:\n" not in definition_in(gone)
    assert "{report: revenue}" not in definition_in(gone) and "-    - {report: revenue}" in gone
    assert "No problems." in gone
    bad = boss.post(
        "/studio/oms/reports/top_customers",
        data={**form, "report_where": "status: [", "m_new_name": ""},
    )
    assert bad.status_code == 422 and "is not a filter" in bad.get_data(as_text=True)
    assert boss.get("/studio/oms/reports/nope").status_code == 404


def test_every_input_of_the_studio_form_has_a_name_of_its_own(studio):
    _, boss = studio
    for app in ("crm", "oms", "wms"):
        page = boss.get(f"/studio/{app}/yaml").get_data(as_text=True)  # the expert's tab
        form = page.split('id="studio-form"')[1].split("</form>")[0]
        names = re.findall(r'<(?:input|select|textarea)[^>]*\bname="([^"]+)"', form)
        assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def test_entities_states_transitions_and_field_settings_are_forms_too(runtime, studio):
    _, boss = studio

    def edited(**form):
        page = boss.post("/studio/crm/edit", data={"text": live_text(runtime), **form})
        return page.status_code, html.unescape(page.get_data(as_text=True))

    status, page = edited(
        edit="add_entity",
        entity_name="visit",
        entity_label_en="Visit",
        entity_label_zh="拜访",
        entity_icon="🤝",
        entity_first_field="subject",
    )
    assert status == 200 and "create table crm_visit" in page and "No problems." in page
    status, page = edited(
        edit="change_state",
        state_entry="opportunity.won",
        state_colour="teal",
        state_label_en="(the add form's, ignored)",
    )
    assert "won: {label: {en: Won, zh: 赢单}, colour: teal, final: true}" in page
    status, page = edited(
        edit="change_state",
        state_entry="opportunity.won",
        state_relabel_en="Won!",
        state_relabel_zh="成交",
    )
    assert "won: {label: {en: Won!, zh: 成交}, colour: green, final: true}" in page
    status, page = edited(
        edit="change_transition",
        transition_entry="opportunity.win",
        transition_roles="manager",
        transition_if="amount > 0",
        transition_relabel_en="Close as won",
    )
    assert "label: {en: Close as won, zh: 赢单}" in page  # its Chinese label kept
    assert "roles: [manager], if: amount > 0}" in page and "No problems." in page
    status, page = edited(
        edit="change_entity",
        entity_entry="lead",
        entity_relabel_en="Prospect",
        entity_relabel_zh="潜在客户",
        entity_new_icon="🧲",
    )
    assert "    label: {en: Prospect, zh: 潜在客户}\n" in page and "    icon: 🧲\n" in page
    assert "No problems." in page
    status, page = edited(edit="change_entity", entity_entry="nope", entity_new_icon="x")
    assert status == 422 and "the definition has no entities.nope" in page
    status, page = edited(
        edit="change_field", field="customer.tier", field_default="silver", field_relabel_en="Level"
    )
    assert "default: silver" in page and "No problems." in page
    assert "tier: {type: select, label: {en: Level, zh: 客户等级}" in page


def test_a_condition_set_in_the_field_form_is_applied_and_enforced(runtime, studio):
    app, boss = studio
    page = boss.post(
        "/studio/oms/edit",
        data={
            "text": live_text(runtime, "oms"),
            "edit": "change_field",
            "field": "order.note",
            "field_required_if": "discount > 0",
            "field_visible_if": "-",  # nothing to remove: nothing changes
        },
    ).get_data(as_text=True)
    text = html.unescape(re.search(r'id="definition"[^>]*>(.*?)</textarea>', page, re.S).group(1))
    assert "note: {type: long_text, label: {en: Note, zh: 备注}, required_if: discount > 0}" in text
    assert "No problems." in page
    bad = boss.post(
        "/studio/oms/edit",
        data={
            "text": text,
            "edit": "change_field",
            "field": "order.note",
            "field_readonly_if": "discout > 0",
        },
    ).get_data(as_text=True)
    assert (
        "readonly_if of &#39;note&#39; uses &#39;discout&#39;, which is not a field of order" in bad
    )
    done = boss.post("/studio/oms/apply", data={"text": text, "comment": "why a discount"})
    assert done.status_code == 303
    form = boss.get("/a/oms/order/new").get_data(as_text=True)  # served from the next request
    assert 'data-state="note"' in form
    rt = app.extensions["apploom"]
    boss_user = rt.users.get("boss")
    customer = rt.records.create(boss_user, "crm.customer", {"name": "Zhang", "email": "z@x.cn"})
    item = rt.records.create(boss_user, "wms.item", {"sku": "CUP-1", "name": "Cup", "price": "5"})
    order = {
        "customer": customer["id"],
        "discount": "1",
        "lines": [{"item": item["id"], "qty": 2, "price": "5"}],
    }
    with pytest.raises(ValidationFailed) as caught:
        rt.records.create(boss_user, "oms.order", order)
    assert caught.value.fields == {"note": "is required"}
    assert rt.records.create(boss_user, "oms.order", {**order, "note": "loyal"})["note"] == "loyal"
