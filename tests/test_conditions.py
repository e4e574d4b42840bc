"""Conditional fields (visible_if, required_if, readonly_if): checked at load time and
enforced by the record service on every path, on SQLite and PostgreSQL."""

from __future__ import annotations

import html
import json
import re
import textwrap

import pytest

from apploom.engine.access.permissions import SYSTEM_USER
from apploom.engine.definitions.loading import Source, load_apps
from apploom.engine.errors import DefinitionError, RuleError, ValidationFailed
from apploom.engine.fields.registry import FieldTypes
from apploom.engine.imports.spreadsheets import read_table
from apploom.web import create_app
from tests.helpers import Api, Shop, app_text, browser, make_runtime

CLAIM = "desk.claim"


@pytest.fixture
def desk(database_url, tmp_path):
    rt = make_runtime(
        database_url, tmp_path / "desk", [Source("desk.yaml", app_text("claims_desk"))]
    )
    yield rt
    rt.close()


def refused(call) -> dict:
    with pytest.raises(ValidationFailed) as caught:
        call()
    return caught.value.fields


def claim(rt, **values) -> dict:
    return rt.records.create(SYSTEM_USER, CLAIM, {"kind": "refund", **values})


# ---- load time --------------------------------------------------------------------------


def problems_of(text: str) -> list:
    with pytest.raises(DefinitionError) as caught:
        load_apps([Source("shop.yaml", textwrap.dedent(text))], FieldTypes())
    return caught.value.problems


def test_a_condition_naming_an_unknown_field_is_refused_naming_entity_field_and_name():
    (problem,) = problems_of(
        """\
        app: shop
        entities:
          order:
            fields:
              channel: {type: text}
              external_id: {type: text, required_if: "chanel == 'marketplace'"}
        """
    )
    assert problem.path == "entities.order.fields.external_id.required_if"
    assert problem.line == 6
    assert problem.message == (
        "required_if of 'external_id' uses 'chanel', which is not a field of order"
    )


def test_a_condition_that_does_not_compile_or_names_a_bad_row_field_is_refused():
    problems = problems_of(
        """\
        app: shop
        entities:
          order:
            fields:
              note: {type: text, visible_if: "import os"}
              lines: {type: table, of: line}
            form:
              - section: Lines
                rows: [[lines]]
                readonly_if: "any(l.colour for l in lines)"
          line:
            fields:
              qty: {type: integer}
              code: {type: text, readonly_if: "quantity > 1"}
        """
    )
    by_path = {p.path: p.message for p in problems}
    assert by_path["entities.order.fields.note.visible_if"].startswith("visible_if of 'note' ")
    assert by_path["entities.order.form.0.readonly_if"] == (
        "readonly_if of the section 'Lines' reads '.colour', which no table row of order has"
    )
    assert by_path["entities.line.fields.code.readonly_if"] == (
        "readonly_if of 'code' uses 'quantity', which is not a field of line"
    )


# ---- required_if and visible_if ---------------------------------------------------------


def test_required_if_refuses_a_record_missing_the_field_while_its_condition_holds(desk):
    assert refused(lambda: claim(desk, kind="other", note="x")) == {"detail": "is required"}
    made = claim(desk, kind="other", note="x", detail="box was wet")
    assert made["detail"] == "box was wet"
    assert claim(desk)["detail"] is None  # a refund: not asked for


def test_the_condition_is_read_on_the_record_as_it_will_be_after_the_update(desk):
    made = claim(desk, note="x")
    changing = {"kind": "other"}
    assert refused(
        lambda: desk.records.update(SYSTEM_USER, CLAIM, made["id"], changing, version=1)
    ) == {"detail": "is required"}
    updated = desk.records.update(
        SYSTEM_USER, CLAIM, made["id"], {**changing, "detail": "lost"}, version=1
    )
    # blanking the field is refused while the condition still holds, allowed once it does not
    assert refused(
        lambda: desk.records.update(SYSTEM_USER, CLAIM, made["id"], {"detail": ""}, version=2)
    ) == {"detail": "is required"}
    again = desk.records.update(
        SYSTEM_USER, CLAIM, updated["id"], {"kind": "refund", "detail": None}, version=2
    )
    assert (again["kind"], again["detail"]) == ("refund", None)


def test_a_hidden_field_is_never_required_and_a_value_sent_for_it_is_kept(desk):
    # note is required, but hidden for refunds; detail is hidden for a refund yet sent
    made = claim(desk, detail="kept anyway")
    assert made["note"] is None and made["detail"] == "kept anyway"
    assert refused(lambda: claim(desk, kind="other", detail="d")) == {"note": "is required"}


def test_a_section_condition_applies_to_every_field_of_the_section(desk):
    assert refused(lambda: claim(desk, kind="repair", note="x")) == {
        "courier": "is required",
        "pickup_on": "is required",
    }
    made = claim(desk, kind="repair", note="x", courier="SF", pickup_on="2026-12-02")
    assert made["courier"] == "SF"


def test_conditions_on_row_fields_read_their_row(desk):
    rows = [{"kind": "accessory"}, {"kind": "device"}, {"kind": "device", "serial": "SN1"}]
    assert refused(lambda: claim(desk, items=rows)) == {"items.1.serial": "is required"}
    made = claim(desk, items=[rows[0], rows[2]])
    assert [r["serial"] for r in made["items"]] == [None, "SN1"]


def test_the_preview_tells_each_conditioned_fields_state(desk):
    draft = desk.records.preview(
        SYSTEM_USER, CLAIM, {"kind": "repair", "items": [{"kind": "device"}]}
    )
    states = draft["states"]
    assert states["detail"] == {"visible": False, "required": False, "readonly": False}
    assert states["courier"] == {"visible": True, "required": True, "readonly": False}
    assert states["items.0.serial"] == {"visible": True, "required": True, "readonly": False}
    assert draft["errors"]["courier"] == "is required"


# ---- readonly_if ------------------------------------------------------------------------


def test_readonly_if_refuses_a_change_while_its_condition_holds(desk):
    made = claim(desk, amount="80")
    approved = desk.records.update(SYSTEM_USER, CLAIM, made["id"], {"approved": True}, version=1)
    assert refused(
        lambda: desk.records.update(SYSTEM_USER, CLAIM, made["id"], {"amount": "90"}, version=2)
    ) == {"amount": "cannot be changed now"}
    # the same value sent again is no change; approving and changing at once is refused
    same = desk.records.update(SYSTEM_USER, CLAIM, made["id"], {"amount": "80.00"}, version=2)
    assert same["version"] == approved["version"]
    assert refused(lambda: claim(desk, amount="5", approved=True)) == {
        "amount": "cannot be changed now"
    }
    # read on the record as it will be: taking the approval back frees it in the same change
    freed = desk.records.update(
        SYSTEM_USER, CLAIM, made["id"], {"approved": False, "amount": "90"}, version=2
    )
    assert freed["amount"] == "90.00"


def test_a_rule_may_change_a_readonly_if_field(desk):
    made = claim(desk, amount="800")
    approved = desk.records.update(SYSTEM_USER, CLAIM, made["id"], {"approved": True}, version=1)
    assert approved["amount"] == "500.00"


def test_readonly_if_on_a_row_field_reads_its_row(desk):
    made = claim(desk, items=[{"kind": "device", "serial": "SN1"}])
    row = made["items"][0]
    assert refused(
        lambda: desk.records.update(
            SYSTEM_USER,
            CLAIM,
            made["id"],
            {"items": [{"id": row["id"], "kind": "accessory", "serial": "SN2"}]},
            version=1,
        )
    ) == {"items.0.serial": "cannot be changed now"}
    assert refused(lambda: claim(desk, items=[{"kind": "accessory", "serial": "X"}])) == {
        "items.0.serial": "cannot be changed now"
    }


# ---- every path: rules, the API, imports ------------------------------------------------


def test_a_rule_creating_a_record_missing_a_required_if_field_is_refused(desk):
    with pytest.raises(RuleError) as caught:
        desk.records.create(SYSTEM_USER, "desk.ticket", {"subject": "wet box"})
    assert "detail" in str(caught.value) and "is required" in str(caught.value)
    assert desk.records.list(SYSTEM_USER, "desk.ticket").total == 0


def test_the_api_refuses_a_missing_required_if_field_with_a_422_naming_it(database_url, tmp_path):
    rt = make_runtime(database_url, tmp_path / "api")
    try:
        shop = Shop(rt)
        rt.users.create("sue", ["sales"], "password1234")
        api = Api(create_app(runtime=rt).test_client(), rt.users.create_token("sue"))
        answer = api.post("/api/v1/oms/order", json=shop.order(channel="marketplace"))
        assert answer.status_code == 422
        assert answer.json["error"]["fields"] == {"external_id": "is required"}
        made = api.post("/api/v1/oms/order", json=shop.order(channel="store"))
        assert made.status_code == 201
        order = made.json
        answer = api.patch(
            f"/api/v1/oms/order/{order['id']}",
            json={"channel": "marketplace", "version": order["version"]},
        )
        assert answer.status_code == 422
        assert answer.json["error"]["fields"] == {"external_id": "is required"}
    finally:
        rt.close()


def test_an_import_row_missing_a_required_if_field_is_reported_for_its_row(runtime, shop):
    text = (
        "外部单号,渠道,客户邮箱,SKU,数量,单价\n"
        ",门店,zs@example.com,CUP-1,1,12.50\n"  # a store's: none needed
        ",电商平台,zs@example.com,CUP-1,1,12.50\n"  # a marketplace order without its number
        "TB-1,电商平台,zs@example.com,CUP-1,1,12.50\n"
    )
    # (a row with no number and the order cells of the row above would be that order's
    # next line, as shops' exports write them: the rows here differ from their neighbours)
    mapping = {
        "外部单号": "external_id",
        "渠道": "channel",
        "客户邮箱": "customer.email",
        "SKU": "lines.item.sku",
        "数量": "lines.qty",
        "单价": "lines.price",
    }
    header, rows = read_table("orders.csv", text.encode())
    report = runtime.imports.importer.run(SYSTEM_USER, "oms.order", header, rows, mapping)
    assert report.created == 2
    assert [(e["row"], e["message"]) for e in report.errors] == [(3, "is required")]


# ---- the form ---------------------------------------------------------------------------


def order_form(shop, **overrides) -> dict:
    return {
        "customer": str(shop.customer["id"]),
        "channel": "web",
        "ordered_at": "2026-11-20T10:00",
        "lines-0-item": str(shop.cup["id"]),
        "lines-0-qty": "2",
        "lines-0-price": "12.50",
        **overrides,
    }


@pytest.fixture
def sue(sqlite_runtime):
    sqlite_runtime.users.create("sue", ["sales"], "password1234")
    return browser(create_app(runtime=sqlite_runtime), "sue")


def test_the_form_shows_each_conditioned_fields_state_as_it_loads(sue, sqlite_runtime):
    shop = Shop(sqlite_runtime)
    page = sue.get("/a/oms/order/new").get_data(as_text=True)
    assert re.search(r'<div class="field [^"]*" data-state="external_id" data-hidden>', page)
    order = sqlite_runtime.records.create(
        SYSTEM_USER, "oms.order", shop.order(channel="marketplace", external_id="TB-1")
    )
    page = sue.get(f"/a/oms/order/{order['id']}/edit").get_data(as_text=True)
    assert re.search(
        r'data-state="external_id">\s*<label for="external_id">[^<]*'
        r'<span class="req" >\*</span>',
        page,
    )


def test_the_preview_answers_the_states_by_the_forms_names(sue, sqlite_runtime):
    shop = Shop(sqlite_runtime)
    sue.get("/a/oms/order/new")
    page = sue.post("/a/oms/order/preview", order_form(shop, channel="marketplace"))
    found = re.search(r"id=\"field-states\"[^>]*data-states='([^']*)'", page.get_data(as_text=True))
    states = json.loads(html.unescape(found.group(1)))
    assert states["external_id"] == {"visible": True, "required": True, "readonly": False}


def test_the_form_refuses_a_missing_required_if_field_in_the_users_language(sue, sqlite_runtime):
    shop = Shop(sqlite_runtime)
    sue.get("/lang/zh?next=/a/oms/order")
    answer = sue.post("/a/oms/order/new", order_form(shop, channel="marketplace"))
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert 'id="external_id-error">为必填项' in page
    assert re.search(r'data-state="external_id">', page)  # shown, since it is asked for
    assert sqlite_runtime.records.list(SYSTEM_USER, "oms.order").total == 0


def test_the_openapi_document_tells_each_fields_conditions(sue, sqlite_runtime):
    document = sue.get("/api/v1/openapi.json").json
    schemas = document["components"]["schemas"]
    external = schemas["oms_order"]["properties"]["external_id"]["description"]
    assert "Shown on forms only while `channel == 'marketplace'`" in external
    assert "Required while `channel == 'marketplace'`" in external
    ship_name = schemas["oms_order"]["properties"]["ship_name"]["description"]
    assert ship_name.startswith("Cannot be changed while `status in ('shipped'")
    assert "external_id" not in schemas["oms_order"].get("required", [])


def test_the_record_page_leaves_out_a_hidden_empty_field(sue, sqlite_runtime):
    shop = Shop(sqlite_runtime)
    store = sqlite_runtime.records.create(SYSTEM_USER, "oms.order", shop.order(channel="store"))
    market = sqlite_runtime.records.create(
        SYSTEM_USER, "oms.order", shop.order(channel="marketplace", external_id="TB-3")
    )
    assert "External order id" not in sue.get(f"/a/oms/order/{store['id']}").get_data(True)
    page = sue.get(f"/a/oms/order/{market['id']}").get_data(as_text=True)
    assert "External order id" in page and "TB-3" in page
