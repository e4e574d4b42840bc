"""The record service: the one write path, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from sqlalchemy import event, func, select

from apploom.engine.access.permissions import SYSTEM_USER
from apploom.engine.definitions.loading import Source
from apploom.engine.definitions.model import MAX_TABLE_ROWS
from apploom.engine.errors import Conflict, Forbidden, NotFound, ValidationFailed
from apploom.engine.query.filters import parse_params
from apploom.engine.storage.system_tables import sys_history
from tests.helpers import bundled_with, reopen


def test_create_applies_defaults_formulas_numbering_and_child_rows(runtime, shop):
    order = runtime.records.create(SYSTEM_USER, "oms.order", shop.order())
    assert order["number"].startswith("SO-") and order["number"].endswith("-00001")
    assert order["channel"] == "web" and order["payment_status"] == "unpaid"
    assert order["order_date"] is not None
    assert [line["amount"] for line in order["lines"]] == ["25.00", "268.00"]
    assert order["total"] == "293.00"
    assert order["version"] == 1
    assert runtime.records.get(SYSTEM_USER, "oms.order", order["id"]) == order


def test_money_is_exact_decimal_end_to_end(runtime, shop):
    data = shop.order(
        lines=[
            {"item": shop.cup["id"], "qty": 3, "price": "0.10"},
            {"item": shop.cup["id"], "qty": 1, "price": 0.2},
        ]
    )
    order = runtime.records.create(SYSTEM_USER, "oms.order", data)
    assert order["total"] == "0.50"
    table = runtime.records.tables["oms_order"]
    with runtime.db.read() as conn:
        stored = conn.execute(select(table.c.total)).scalar()
        summed = conn.execute(select(func.sum(table.c.total))).scalar()
    assert stored == Decimal("0.50") and isinstance(stored, Decimal)
    assert summed == Decimal("0.50")


def test_bad_input_names_every_field_and_writes_nothing(runtime, shop):
    data = shop.order(
        channel="fax",
        bogus=1,
        total="5",
        lines=[
            {"item": shop.cup["id"], "qty": 0, "price": "1.005"},
            {"item": 999999, "qty": 1, "price": "1"},
        ],
    )
    with pytest.raises(ValidationFailed) as caught:
        runtime.records.create(SYSTEM_USER, "oms.order", data)
    fields = caught.value.fields
    assert fields["channel"].startswith("'fax' is not an option")
    assert fields["bogus"] == "is not a field of order"
    assert fields["total"] == "is computed and cannot be set"
    assert fields["lines.0.qty"] == "must be at least 1"
    assert fields["lines.0.price"] == "may have at most 2 decimal places"
    assert runtime.records.list(SYSTEM_USER, "oms.order").total == 0


def test_refs_must_exist_and_are_checked_in_the_database(runtime, shop):
    data = shop.order(customer=424242, lines=[{"item": 999999, "qty": 1, "price": "1"}])
    with pytest.raises(ValidationFailed) as caught:
        runtime.records.create(SYSTEM_USER, "oms.order", data)
    assert caught.value.fields == {
        "customer": "there is no Customer with id 424242",
        "lines.0.item": "there is no Item with id 999999",
    }


def test_required_fields_and_min_rows(runtime, shop):
    with pytest.raises(ValidationFailed) as caught:
        runtime.records.create(SYSTEM_USER, "oms.order", {"lines": []})
    assert caught.value.fields == {"customer": "is required", "lines": "needs at least 1 row(s)"}


def test_unique_values_are_refused_with_a_clear_message(runtime, shop):
    with pytest.raises(ValidationFailed) as caught:
        runtime.records.create(SYSTEM_USER, "wms.item", {"sku": "CUP-1", "name": "x", "price": "1"})
    assert caught.value.fields == {"sku": "is already used by another Item"}


def test_a_unique_clash_repeats_no_value_of_a_record_the_user_cannot_read(runtime, shop):
    """The error says the value is taken, neither by which record nor with what."""
    rt = reopen(
        runtime,
        bundled_with(
            "crm.yaml", "  sales: [read, create, update]", '  sales: [create, "read:own", update]'
        ),
    )
    sue = rt.users.create("sue", ["sales"], "password1234")
    with pytest.raises(ValidationFailed) as caught:
        rt.records.create(sue, "crm.customer", {"name": "Zhang", "email": "zs@example.com"})
    assert caught.value.fields == {"email": "is already used by another Customer"}
    rt.records.create(
        SYSTEM_USER, "oms.order", shop.order(channel="marketplace", external_id="TB-7")
    )
    mine = rt.records.create(sue, "oms.order", shop.order(external_id="TB-7"))
    with pytest.raises(ValidationFailed) as caught:
        rt.records.update(sue, "oms.order", mine["id"], {"channel": "marketplace"}, version=1)
    assert caught.value.fields == {
        "external_id": "is already used by another Sales order with the same channel"
    }
    rt.close()


def test_pattern_and_length_checks(runtime):
    with pytest.raises(ValidationFailed) as caught:
        runtime.records.create(
            SYSTEM_USER, "wms.item", {"sku": "cup 1", "name": "x" * 161, "price": "-1"}
        )
    assert set(caught.value.fields) == {"sku", "name", "price"}
    assert "at most 160" in caught.value.fields["name"]
    assert caught.value.fields["price"] == "must be at least 0"


def test_update_merges_rows_recomputes_and_bumps_version(runtime, shop):
    order = runtime.records.create(SYSTEM_USER, "oms.order", shop.order())
    first, second = order["lines"]
    updated = runtime.records.update(
        SYSTEM_USER,
        "oms.order",
        order["id"],
        {
            "note": "gift wrap",
            "lines": [
                {"id": second["id"], "qty": 2},
                {"item": shop.cup["id"], "qty": 1, "price": "9.99"},
            ],
        },
        version=1,
    )
    assert updated["version"] == 2
    assert [(line["qty"], line["amount"]) for line in updated["lines"]] == [
        (2, "536.00"),
        (1, "9.99"),
    ]
    assert updated["lines"][0]["id"] == second["id"]
    assert updated["total"] == "545.99"
    assert runtime.records.get(SYSTEM_USER, "oms.order", order["id"]) == updated


def test_stale_update_is_a_conflict_with_both_values(runtime, shop):
    order = runtime.records.create(SYSTEM_USER, "oms.order", shop.order())
    runtime.records.update(SYSTEM_USER, "oms.order", order["id"], {"note": "first"}, version=1)
    with pytest.raises(Conflict) as caught:
        runtime.records.update(SYSTEM_USER, "oms.order", order["id"], {"note": "second"}, version=1)
    assert caught.value.current["note"] == "first"
    assert caught.value.yours == {"note": "second"}
    assert runtime.records.get(SYSTEM_USER, "oms.order", order["id"])["note"] == "first"


def test_update_needs_a_version(runtime, shop):
    order = runtime.records.create(SYSTEM_USER, "oms.order", shop.order())
    with pytest.raises(ValidationFailed) as caught:
        runtime.records.update(SYSTEM_USER, "oms.order", order["id"], {"note": "x"}, version=None)
    assert "version" in caught.value.fields


def test_update_without_changes_keeps_version_and_history(runtime, shop):
    order = runtime.records.create(SYSTEM_USER, "oms.order", shop.order(note="n"))
    same = runtime.records.update(SYSTEM_USER, "oms.order", order["id"], {"note": "n"}, version=1)
    assert same["version"] == 1
    assert len(runtime.records.history(SYSTEM_USER, "oms.order", order["id"])) == 1


def test_a_row_of_another_record_cannot_be_edited(runtime, shop):
    one = runtime.records.create(SYSTEM_USER, "oms.order", shop.order())
    two = runtime.records.create(SYSTEM_USER, "oms.order", shop.order())
    with pytest.raises(ValidationFailed) as caught:
        runtime.records.update(
            SYSTEM_USER,
            "oms.order",
            two["id"],
            {"lines": [{"id": one["lines"][0]["id"], "qty": 9}]},
            version=1,
        )
    assert "lines.0.id" in caught.value.fields


def test_history_records_who_what_when_old_and_new(runtime, shop):
    sales = runtime.users.create("sue", ["sales"], "password1234")
    order = runtime.records.create(sales, "oms.order", shop.order())
    runtime.records.update(sales, "oms.order", order["id"], {"channel": "phone"}, version=1)
    entries = runtime.records.history(sales, "oms.order", order["id"])
    assert [e["action"] for e in entries] == ["create", "update"]
    assert entries[1]["user"] == "sue"
    assert entries[1]["changes"] == {"channel": ["web", "phone"]}
    assert entries[0]["changes"]["total"] == [None, "293.00"]


def test_delete_keeps_a_history_entry_and_removes_rows(runtime, shop):
    order = runtime.records.create(SYSTEM_USER, "oms.order", shop.order())
    runtime.records.delete(SYSTEM_USER, "oms.order", order["id"])
    with pytest.raises(NotFound):
        runtime.records.get(SYSTEM_USER, "oms.order", order["id"])
    lines = runtime.records.tables["oms_order_line"]
    with runtime.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(lines)).scalar() == 0
        actions = (
            conn.execute(
                select(sys_history.c.action).where(
                    sys_history.c.record_id == order["id"], sys_history.c.entity == "oms.order"
                )
            )
            .scalars()
            .all()
        )
    assert actions == ["create", "delete"]


def test_delete_of_a_referenced_record_is_refused(runtime, shop):
    mug = runtime.records.create(
        SYSTEM_USER, "wms.item", {"sku": "MUG", "name": "Mug", "price": "9.00"}
    )
    runtime.records.create(
        SYSTEM_USER, "oms.order", shop.order(lines=[{"item": mug["id"], "qty": 1, "price": "9.00"}])
    )
    with pytest.raises(Conflict, match="cannot be deleted: 1 .* record\\(s\\) refer to it"):
        runtime.records.delete(SYSTEM_USER, "crm.customer", shop.customer["id"])
    with pytest.raises(Conflict, match="1 Sales order record"):  # through its lines
        runtime.records.delete(SYSTEM_USER, "wms.item", mug["id"])


def test_delete_with_a_stale_version_is_refused(runtime, shop):
    runtime.records.update(
        SYSTEM_USER, "crm.customer", shop.other["id"], {"city": "Paris"}, version=1
    )
    with pytest.raises(Conflict):
        runtime.records.delete(SYSTEM_USER, "crm.customer", shop.other["id"], version=1)


def test_permissions_are_enforced_in_the_engine(runtime, shop):
    warehouse = runtime.users.create("wes", ["warehouse"], "password1234")
    with pytest.raises(Forbidden, match="may not create Sales order"):
        runtime.records.create(warehouse, "oms.order", shop.order())
    assert runtime.records.list(warehouse, "oms.order").total == 0
    sales = runtime.users.create("sam", ["sales"], "password1234")
    order = runtime.records.create(sales, "oms.order", shop.order())
    with pytest.raises(Forbidden, match="may not delete"):
        runtime.records.delete(sales, "oms.order", order["id"])
    with pytest.raises(Forbidden):
        runtime.records.update(warehouse, "oms.order", order["id"], {"note": "x"}, version=1)


def test_own_grants_limit_reads_and_writes_to_rows_the_user_created(runtime, shop):
    rt = reopen(
        runtime,
        bundled_with(
            "oms.yaml",
            "  sales: [read, create, update]",
            '  sales: [create, "read:own", "update:own"]',
        ),
    )
    alice = rt.users.create("alice", ["sales"], "password1234")
    bob = rt.users.create("bob", ["sales"], "password1234")
    mine = rt.records.create(alice, "oms.order", shop.order())
    theirs = rt.records.create(bob, "oms.order", shop.order())
    assert [o["id"] for o in rt.records.list(alice, "oms.order").data] == [mine["id"]]
    with pytest.raises(NotFound):
        rt.records.get(alice, "oms.order", theirs["id"])
    with pytest.raises(NotFound):  # not "forbidden": that would tell it exists
        rt.records.update(alice, "oms.order", theirs["id"], {"note": "x"}, version=1)
    assert rt.records.update(
        alice, "oms.order", mine["id"], {"note": "x"}, version=mine["version"]
    )["note"]
    rt.close()


def test_update_own_with_read_all_names_the_rule(runtime, shop):
    rt = reopen(
        runtime,
        bundled_with(
            "oms.yaml", "  sales: [read, create, update]", '  sales: [read, create, "update:own"]'
        ),
    )
    alice = rt.users.create("alice", ["sales"], "password1234")
    bob = rt.users.create("bob", ["sales"], "password1234")
    theirs = rt.records.create(bob, "oms.order", shop.order())
    assert rt.records.get(alice, "oms.order", theirs["id"])["id"] == theirs["id"]
    with pytest.raises(Forbidden, match="only update Sales order records you created"):
        rt.records.update(alice, "oms.order", theirs["id"], {"note": "x"}, version=1)
    rt.close()


def test_filters_through_a_ref_see_only_what_the_user_may_read(runtime, shop):
    runtime.records.create(SYSTEM_USER, "oms.order", shop.order())
    outsider = runtime.users.create("ola", ["warehouse"], "password1234")
    with pytest.raises(Forbidden, match="may not read Customer"):
        runtime.records.list(
            outsider, "oms.order", parse_params({"customer.email": "zs@example.com"})
        )
    with pytest.raises(Forbidden, match="may not read Customer"):
        runtime.records.list(outsider, "oms.order", parse_params({"sort": "customer.email"}))
    assert runtime.records.list(outsider, "oms.order", parse_params({"q": "张"})).total == 0
    rt = reopen(
        runtime,
        bundled_with(
            "crm.yaml", "  sales: [read, create, update]", '  sales: [create, "read:own", update]'
        ),
    )
    sue = rt.users.create("sue", ["sales"], "password1234")
    orders = rt.records.list(sue, "oms.order", parse_params({"customer.city": "上海"}))
    assert orders.total == 0  # the customer exists, but sue did not create it
    assert (
        rt.records.list(SYSTEM_USER, "oms.order", parse_params({"customer.city": "上海"})).total
        == 1
    )
    rt.close()


def test_child_entities_are_not_reachable_on_their_own(runtime):
    with pytest.raises(NotFound):
        runtime.records.list(SYSTEM_USER, "oms.order_line")
    with pytest.raises(NotFound):
        runtime.records.create(SYSTEM_USER, "nope.thing", {})


def test_multiselect_values_are_coerced_and_checked(runtime):
    customer = runtime.records.create(
        SYSTEM_USER, "crm.customer", {"name": "Li", "tags": "online, retail, online"}
    )
    assert customer["tags"] == ["online", "retail"]
    with pytest.raises(ValidationFailed) as caught:
        runtime.records.create(SYSTEM_USER, "crm.customer", {"name": "Li", "tags": ["vip"]})
    assert "'vip' is not an option" in caught.value.fields["tags"]


def test_concurrent_creates_with_one_idempotency_key_make_one_record(runtime, shop):
    sales = runtime.users.create("sue", ["sales"], "password1234")

    def create(_):
        return runtime.records.create(sales, "oms.order", shop.order(), idempotency_key="import-7")[
            "id"
        ]

    with ThreadPoolExecutor(max_workers=6) as pool:
        ids = set(pool.map(create, range(12)))
    assert len(ids) == 1
    assert runtime.records.list(sales, "oms.order").total == 1


VAULT = """\
app: vault
roles: [staff, auditor]
permissions: {staff: [create, "read:own", "update:own"], auditor: [read]}
entities:
  doc:
    fields:
      title: {type: text}
      file:  {type: attachment}
      pages: {type: table, of: page}
  page:
    fields:
      scan: {type: attachment}
"""


def test_a_file_is_linked_only_by_whoever_may_read_where_it_is(runtime):
    """Knowing a file's id is not enough to attach it to one's own record and so read it:
    it must be one's own upload not yet attached, or on a record one may read."""
    rt = reopen(runtime, [Source("vault.yaml", VAULT)])
    ann = rt.users.create("ann", ["staff"], "password1234")
    ben = rt.users.create("ben", ["staff"], "password1234")
    ada = rt.users.create("ada", ["auditor"], "password1234")

    def upload(user):
        return rt.attachments.store(user, io.BytesIO(b"secret"), "a.pdf", None)["id"]

    secret = upload(ann)
    rt.records.create(ann, "vault.doc", {"title": "Ann's", "file": secret})
    refused = "you may attach only files you uploaded and have not attached yet, or can see"
    with pytest.raises(ValidationFailed) as caught:
        rt.records.create(ben, "vault.doc", {"file": secret})
    assert caught.value.fields == {"file": refused}
    with pytest.raises(ValidationFailed) as caught:
        rt.records.create(ben, "vault.doc", {"pages": [{"scan": secret}]})
    assert caught.value.fields == {"pages.0.scan": refused}
    bens = rt.records.create(ben, "vault.doc", {"title": "Ben's"})
    with pytest.raises(ValidationFailed):
        rt.records.update(ben, "vault.doc", bens["id"], {"file": secret}, version=1)
    with pytest.raises(Forbidden):
        rt.attachments.open(ben, secret)

    fresh = upload(ben)
    with pytest.raises(ValidationFailed):  # not ann's upload, and on no record yet
        rt.records.create(ann, "vault.doc", {"file": fresh})
    rt.records.create(ben, "vault.doc", {"file": fresh, "pages": [{"scan": fresh}]})
    again = rt.records.create(ann, "vault.doc", {"pages": [{"scan": secret}]})
    assert again["pages"][0]["scan"] == secret  # ann may read where it already is
    assert rt.attachments.open(ada, fresh)[0]["id"] == fresh  # on a record ada may read
    assert rt.records.create(SYSTEM_USER, "vault.doc", {"file": secret})["file"] == secret
    rt.close()


def test_a_deleted_records_id_is_never_given_again(runtime, shop):
    """A new record must not take over a deleted one's id, and so its history."""
    newest = runtime.records.create(SYSTEM_USER, "wms.warehouse", {"code": "GO", "name": "Gone"})
    runtime.records.delete(SYSTEM_USER, "wms.warehouse", newest["id"])
    fresh = runtime.records.create(SYSTEM_USER, "wms.warehouse", {"code": "NEW", "name": "New"})
    assert fresh["id"] > newest["id"]
    history = runtime.records.history(SYSTEM_USER, "wms.warehouse", fresh["id"])
    assert [(e["action"], e["changes"]["name"][1]) for e in history] == [("create", "New")]
    order = runtime.records.create(SYSTEM_USER, "oms.order", shop.order())
    last = order["lines"][-1]["id"]
    kept = runtime.records.update(
        SYSTEM_USER,
        "oms.order",
        order["id"],
        {"lines": [{"id": line["id"]} for line in order["lines"][:-1]]},
        version=1,
    )["lines"]
    added = {"item": shop.cup["id"], "qty": 1, "price": "1.00"}
    lines = runtime.records.update(
        SYSTEM_USER,
        "oms.order",
        order["id"],
        {"lines": [*({"id": line["id"]} for line in kept), added]},
        version=2,
    )["lines"]
    assert lines[-1]["id"] > last  # rows too


def test_a_table_holds_at_most_its_max_rows_or_the_engine_cap(runtime, shop):
    """Refused before any row is read: no row's values are checked, so the work is bounded
    by the limit, not by what was sent."""
    for lines in (50_000, 501):
        with pytest.raises(ValidationFailed) as caught:
            runtime.records.create(
                SYSTEM_USER, "oms.order", shop.order(lines=[{"item": "nothing"}] * lines)
            )
        assert caught.value.fields == {"lines": f"has {lines} rows; at most 500 are allowed"}
    order = runtime.records.create(SYSTEM_USER, "oms.order", shop.order())
    with pytest.raises(ValidationFailed) as caught:
        runtime.records.update(
            SYSTEM_USER,
            "oms.order",
            order["id"],
            {"lines": order["lines"] * 251},
            version=order["version"],
        )
    assert caught.value.fields == {"lines": "has 502 rows; at most 500 are allowed"}
    purchase = {"supplier": "Acme", "warehouse": shop.warehouse["id"]}
    with pytest.raises(ValidationFailed) as caught:
        runtime.records.create(
            SYSTEM_USER, "wms.purchase_order", {**purchase, "lines": [{}] * (MAX_TABLE_ROWS + 1)}
        )
    assert caught.value.fields == {"lines": "has 1001 rows; at most 1000 are allowed"}


def test_what_a_record_takes_from_each_ref_is_read_in_one_query(runtime, shop):
    """An order takes eight ship-to fields from its customer and each line its price and
    tax rate from its item: one query for the customer, one for the items, not one for
    each field."""
    read: Counter = Counter()

    def seen(conn, cursor, statement, *args) -> None:
        read.update(table for table in ("crm_customer", "wms_item") if f"FROM {table}" in statement)

    lines = [{"item": shop.cup["id"], "qty": 1}, {"item": shop.pot["id"], "qty": 2}]
    event.listen(runtime.db.engine, "before_cursor_execute", seen)
    try:
        order = runtime.records.create(
            SYSTEM_USER, "oms.order", {"customer": shop.customer["id"], "lines": lines}
        )
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", seen)
    assert order["ship_city"] == "上海"
    assert [line["price"] for line in order["lines"]] == ["12.50", "268.00"]
    assert read == {"crm_customer": 1, "wms_item": 1}


def test_a_line_takes_its_items_price_until_one_is_typed(runtime, shop):
    """88.00 was typed for an item priced 115.50, with nothing offered: a price left out
    is now the item's, and follows the item when it changes, unless it is given."""
    create, update = runtime.records.create, runtime.records.update
    lines = [{"item": shop.cup["id"], "qty": 1}, {"item": shop.pot["id"], "qty": 1, "price": "99"}]
    order = create(SYSTEM_USER, "oms.order", {"customer": shop.customer["id"], "lines": lines})
    assert [line["price"] for line in order["lines"]] == ["12.50", "99.00"]
    first, second = order["lines"]
    swapped = update(
        SYSTEM_USER,
        "oms.order",
        order["id"],
        {"lines": [{"id": first["id"], "item": shop.pot["id"]}, {"id": second["id"]}]},
        version=order["version"],
    )
    assert [line["price"] for line in swapped["lines"]] == ["268.00", "99.00"]
    typed = update(
        SYSTEM_USER,
        "oms.order",
        order["id"],
        {
            "lines": [
                {"id": first["id"], "item": shop.cup["id"], "price": "11"},
                {"id": second["id"]},
            ]
        },
        version=swapped["version"],
    )
    assert typed["lines"][0]["price"] == "11.00"
    noted = update(SYSTEM_USER, "oms.order", order["id"], {"note": "x"}, version=typed["version"])
    assert noted["lines"][0]["price"] == "11.00"  # the item did not change: the price stays
    preview = runtime.records.preview(
        SYSTEM_USER,
        "oms.order",
        {"customer": shop.customer["id"], "lines": [{"item": shop.pot["id"]}]},
    )
    assert preview["record"]["lines"][0]["price"] == "268.00"  # as the form shows it
