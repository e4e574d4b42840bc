"""Paging through big lists: a cursor to the page after, counts that stop at a limit, and a
sort by a ref's field that shows nothing the reader may not see."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, select

from apploom.engine.access.permissions import SYSTEM_USER
from apploom.engine.errors import BadQuery
from apploom.engine.query.filters import Query
from apploom.engine.records import service
from apploom.web import create_app
from tests.helpers import Api, bundled_with, reopen

SORTS = [
    "ordered_at",
    "-ordered_at",
    "ship_postcode",
    "-ship_postcode",
    "note",
    "-note",
    "customer.name",
    "-customer.city",
    "total",
    "-created_at",
    "channel",
]


@pytest.fixture
def many_orders(runtime, shop):
    """24 orders whose sort values repeat and are often missing: ties and NULLs on every
    page boundary."""
    nowhere = runtime.records.create(SYSTEM_USER, "crm.customer", {"name": "Zhou"})  # no city
    customers = [shop.customer["id"], shop.other["id"], nowhere["id"]]
    times = ["2026-01-05T10:00:00", "2026-02-01T08:00:00", "2026-01-05T10:00:00"]
    postcodes = [None, "310000", "310000", "200000"]
    notes = [None, "urgent", "gift", None, "urgent"]
    for n in range(24):
        lines = [{"item": shop.cup["id"], "qty": 1 + n % 3, "price": "12.50"}]
        runtime.records.create(
            SYSTEM_USER,
            "oms.order",
            shop.order(
                customer=customers[n % 3],
                channel=["web", "store", "phone"][n % 2],
                ordered_at=times[n % 3],
                ship_postcode=postcodes[n % 4],
                note=notes[n % 5],
                lines=lines,
            ),
        )


def walk(runtime, query: Query) -> list[int]:
    """The ids of every page, each found by the cursor of the one before."""
    ids, page = [], runtime.records.list(SYSTEM_USER, "oms.order", query)
    while True:
        ids += [o["id"] for o in page.data]
        if page.next is None:
            return ids
        page = runtime.records.list(SYSTEM_USER, "oms.order", replace(query, after=page.next))


def test_pages_walked_by_their_cursors_are_the_whole_list_in_order(runtime, many_orders):
    @settings(
        max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(
        sort=st.lists(st.sampled_from(SORTS), min_size=1, max_size=2, unique=True),
        size=st.integers(1, 7),
    )
    def check(sort, size):
        everything = runtime.records.list(
            SYSTEM_USER, "oms.order", Query(sort=tuple(sort), limit=100)
        )
        assert everything.next is None and everything.total == 24
        assert walk(runtime, Query(sort=tuple(sort), limit=size)) == [
            o["id"] for o in everything.data
        ]

    check()


def test_a_page_names_the_next_only_when_one_follows(runtime, many_orders):
    first = runtime.records.list(SYSTEM_USER, "oms.order", Query(limit=12))
    second = runtime.records.list(SYSTEM_USER, "oms.order", Query(limit=12, after=first.next))
    assert first.next and len(second.data) == 12 and second.next is None


@pytest.mark.parametrize(
    "cursor",
    ["not base64!", "e30", "WzFd", "WyJ4IiwgIjEiXQ", "W251bGwsIG51bGxd", "A" * 3000],
)
def test_a_cursor_not_from_this_list_is_refused_by_name(runtime, many_orders, cursor):
    with pytest.raises(BadQuery) as caught:
        runtime.records.list(SYSTEM_USER, "oms.order", Query(after=cursor))
    assert "after" in caught.value.fields


def test_counts_stop_at_the_limit_and_say_so(runtime, many_orders, monkeypatch):
    monkeypatch.setattr(service, "COUNT_LIMIT", 10)
    page = runtime.records.list(SYSTEM_USER, "oms.order", Query(limit=5))
    assert (page.total, page.total_exact) == (10, False)
    few = runtime.records.list(SYSTEM_USER, "oms.order", Query(limit=5, search="zhou"))
    assert (few.total, few.total_exact) == (8, True)


def test_the_api_pages_by_cursor(runtime, many_orders):
    runtime.users.create("sue", ["sales"], "password1234")
    client = Api(create_app(runtime=runtime).test_client(), runtime.users.create_token("sue"))
    first = client.get("/api/v1/oms/order?limit=20&sort=-ship_postcode").get_json()
    assert (first["total"], first["total_exact"], len(first["data"])) == (24, True, 20)
    rest = client.get(f"/api/v1/oms/order?limit=20&sort=-ship_postcode&after={first['next']}")
    assert len(rest.get_json()["data"]) == 4 and rest.get_json()["next"] is None
    refused = client.get("/api/v1/oms/order?after=xyz")
    assert refused.status_code == 400 and "after" in refused.get_json()["error"]["fields"]


def test_sorting_by_a_ref_s_field_shows_only_what_the_reader_may_read(runtime, shop):
    """Customers sue may not read sort as if they had no name: the order of her list
    says nothing about them."""
    rt = reopen(
        runtime,
        bundled_with(
            "crm.yaml", "  sales: [read, create, update]", '  sales: [create, "read:own", update]'
        ),
    )
    sue = rt.users.create("sue", ["sales"], "password1234")
    hers = rt.records.create(sue, "crm.customer", {"name": "Mia"})
    for customer in (shop.customer["id"], hers["id"], shop.other["id"]):
        rt.records.create(sue, "oms.order", shop.order(customer=customer))
    page = rt.records.list(sue, "oms.order", Query(sort=("customer.name",)))
    unread_first = rt.db.dialect == "sqlite"  # NULLs sort first there, last in PostgreSQL
    names = ["Mia", None, None] if not unread_first else [None, None, "Mia"]
    by_customer = {hers["id"]: "Mia"}
    assert [by_customer.get(o["customer"]) for o in page.data] == names
    # the two unread ones keep the order of their ids, whatever their names
    unread = [o["id"] for o in page.data if o["customer"] != hers["id"]]
    assert unread == sorted(unread)
    rt.close()


def test_a_search_on_postgresql_is_answered_from_trigram_indexes(runtime, many_orders):
    """Text found anywhere in a field: each searched field has its own index, and the
    search's parts are a union of ids, so none of them reads every row."""
    if runtime.db.dialect != "postgresql":
        pytest.skip("SQLite has no index for LIKE '%text%': a search scans there")
    records = runtime.records
    entity = records.entity("oms.order")
    page, _ = records.compiler.apply(
        SYSTEM_USER, entity, Query(search="SO-000"), select(records.tables[entity.table].c.id)
    )
    with runtime.db.engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")  # tiny tables: else it just scans
        compiled = page.compile(conn)
        plan = "\n".join(
            row[0] for row in conn.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params)
        )
    for field in ("number", "external_id", "tracking_number"):
        assert f"tg_oms_order_{field}" in plan
    assert "tg_crm_customer_name" in plan  # a ref searches its target's fields the same way


def test_the_page_after_a_cursor_starts_at_the_index_of_its_first_key(runtime, many_orders):
    """Created time and id are never NULL, so the cursor's condition is a range the index
    of created_at starts at, on either database, however deep the page."""
    cursor = runtime.records.list(SYSTEM_USER, "oms.order", Query(limit=5)).next
    sent: list[tuple] = []

    def seen(conn, cursor, statement, parameters, *args) -> None:
        if "FROM oms_order \n" in statement and "ORDER BY" in statement:
            sent.append((statement, parameters))

    event.listen(runtime.db.engine, "before_cursor_execute", seen)
    try:
        runtime.records.list(SYSTEM_USER, "oms.order", Query(after=cursor))
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", seen)
    [(statement, parameters)] = sent
    postgresql = runtime.db.dialect == "postgresql"
    with runtime.db.engine.connect() as conn:
        if postgresql:
            conn.exec_driver_sql("SET enable_seqscan = off")  # tiny tables: else it just scans
        explain = "EXPLAIN" if postgresql else "EXPLAIN QUERY PLAN"
        rows = conn.exec_driver_sql(f"{explain} {statement}", parameters)
        plan = "\n".join(str(row[-1]) for row in rows)
    assert "IS NULL" not in statement
    assert "ix_oms_order_created_at" in plan
    assert ("Index Cond: (created_at <=" if postgresql else "(created_at<?)") in plan


def test_a_last_page_is_counted_by_its_rows_and_a_full_one_by_a_count(runtime, many_orders):
    """A search finding a few orders needs no second pass over what it found; a page
    that is full, or that starts after a cursor, still asks for the count."""
    counts: list[str] = []

    def seen(conn, cursor, statement, *args) -> None:
        if statement.lstrip().upper().startswith("SELECT COUNT("):
            counts.append(statement)

    event.listen(runtime.db.engine, "before_cursor_execute", seen)
    try:
        few = runtime.records.list(SYSTEM_USER, "oms.order", Query(search="zhou"))
        assert (few.total, len(few.data), counts) == (8, 8, [])
        full = runtime.records.list(SYSTEM_USER, "oms.order", Query(limit=5))
        assert (full.total, len(counts)) == (24, 1)
        rest = runtime.records.list(SYSTEM_USER, "oms.order", Query(limit=50, after=full.next))
        assert (rest.total, len(rest.data), len(counts)) == (24, 19, 2)
        beyond = runtime.records.list(SYSTEM_USER, "oms.order", Query(offset=40))
        assert (beyond.total, beyond.data, len(counts)) == (24, [], 3)
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", seen)
