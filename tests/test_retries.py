"""Lock conflicts (a deadlock, a serialization failure, a record changed between a read and
a write) are retried by the engine: the whole user action runs again, and a user hears of
one only when a few attempts have all lost."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine, select, update
from sqlalchemy.exc import OperationalError

from apploom.engine.access.permissions import SYSTEM_USER
from apploom.engine.automation import outbox
from apploom.engine.definitions.loading import Source, bundled_sources
from apploom.engine.errors import Conflict
from apploom.engine.runtime import Runtime
from apploom.engine.settings import Settings
from apploom.engine.storage import retries
from apploom.engine.storage.database import Database
from apploom.engine.storage.system_tables import sys_rule_run
from tests.helpers import PG_URL, app_text, bundled_plugins, install, make_runtime, needs_pg
from tests.test_journey import Shop


class DeadlockDetected(Exception):
    sqlstate = "40P01"  # as psycopg's error of that name


def deadlock() -> OperationalError:
    return OperationalError("UPDATE wms_stock ...", {}, DeadlockDetected("deadlock detected"))


def flaky(failures: int, error=deadlock):
    """Work that fails ``failures`` times, then answers; ``calls`` counts the attempts."""

    def work():
        work.calls += 1
        if work.calls <= failures:
            raise error()
        return "done"

    work.calls = 0
    return work


@pytest.mark.parametrize("error", [deadlock, retries.ConcurrentUpdate])
def test_work_that_loses_a_lock_conflict_runs_again(error, monkeypatch):
    monkeypatch.setattr(retries.time, "sleep", lambda seconds: None)
    work = flaky(2, error)
    assert retries.retrying(work) == "done"
    assert work.calls == 3


def test_after_the_last_attempt_the_user_is_told_to_try_again(monkeypatch):
    pauses: list[float] = []
    monkeypatch.setattr(retries.time, "sleep", pauses.append)
    work = flaky(10)
    with pytest.raises(Conflict, match="a change made at the same time; please try again"):
        retries.retrying(work, attempts=8, pause=0.1)
    assert work.calls == 8
    assert len(pauses) == 7
    assert all(0 <= p <= min(0.1 * 2**i, retries.LONGEST) for i, p in enumerate(pauses))


def test_other_errors_are_not_retried_but_wrapped_lock_conflicts_are(monkeypatch):
    monkeypatch.setattr(retries.time, "sleep", lambda seconds: None)
    refused = flaky(1, lambda: ValueError("not in stock"))
    with pytest.raises(ValueError):
        retries.retrying(refused)
    assert refused.calls == 1

    def wrapped():
        try:
            raise deadlock()
        except OperationalError as exc:
            raise RuntimeError("the savepoint could not be released") from exc

    assert retries.retrying(flaky(1, wrapped)) == "done"


DESK = app_text("desk")


@pytest.fixture
def flaky_desk(runtime):
    """The desk app with a plugin action on every new ticket that writes, then loses a
    lock conflict as many times as ``rt.failures`` says."""
    calls = []

    def stamp(context, params):
        calls.append(context.record_id)
        context.enqueue("stamp", {"record": context.record_id})
        if len(calls) <= rt.failures:
            try:
                context.conn.execute(select(1))
                raise deadlock()
            except OperationalError as exc:  # as a plugin may turn it into its own error
                raise ValueError("could not stamp") from exc
        return "stamped"

    text = DESK.replace(
        "      - name: welcome\n",
        "      - name: stamp\n        on: created\n"
        "        do:\n          - stamp: {}\n      - name: welcome\n",
    )
    install(runtime.db, bundled_sources() + [Source("desk.yaml", text)], frozenset({"stamp"}))
    runtime.close()
    rt = Runtime.open(runtime.settings, actions={**bundled_plugins().actions, "stamp": stamp})
    rt.calls, rt.failures = calls, 0
    yield rt
    rt.close()


def rule_runs(rt):
    with rt.db.read() as conn:
        query = select(sys_rule_run.c.rule, sys_rule_run.c.outcome).order_by(sys_rule_run.c.id)
        return [tuple(r) for r in conn.execute(query) if r.rule == "stamp"]


def test_a_rule_losing_a_lock_conflict_runs_again_with_the_whole_action(flaky_desk, monkeypatch):
    monkeypatch.setattr(retries.time, "sleep", lambda seconds: None)
    flaky_desk.failures = 2
    ticket = flaky_desk.records.create(SYSTEM_USER, "desk.ticket", {"subject": "x"})
    assert len(flaky_desk.calls) == 3  # the rule chain started afresh: no loop reported
    assert flaky_desk.records.list(SYSTEM_USER, "desk.ticket").total == 1
    assert [m["payload"] for m in outbox.messages(flaky_desk.db) if m["kind"] == "stamp"] == [
        {"record": ticket["id"]}
    ]
    assert rule_runs(flaky_desk) == [("stamp", "done")]


def test_a_rule_that_keeps_losing_is_a_conflict_not_a_rule_error(flaky_desk, monkeypatch):
    monkeypatch.setattr(retries.time, "sleep", lambda seconds: None)
    flaky_desk.failures = 100
    with pytest.raises(Conflict, match="please try again"):
        flaky_desk.records.create(SYSTEM_USER, "desk.ticket", {"subject": "x"})
    assert len(flaky_desk.calls) == retries.ATTEMPTS
    assert flaky_desk.records.list(SYSTEM_USER, "desk.ticket").total == 0
    assert rule_runs(flaky_desk) == []  # nothing of the rule's failing to log


@pytest.fixture
def pg_shop(pg_database_url, tmp_path):
    rt = make_runtime(pg_database_url, tmp_path / "instance")
    yield Shop(rt)
    rt.close()


def receive(shop, warehouse):
    """One tea arriving, posted as the warehouse does: (status, answer)."""
    answer = shop.api["warehouse"].post(
        "/api/v1/wms/stock_move",
        json={"item": shop.tea, "warehouse": warehouse, "kind": "receipt", "qty": 1},
    )
    return answer.status_code, answer.json


def orders_by_status(shop):
    found = shop.call("sales", "get", "/api/v1/oms/order?limit=100")["data"]
    return sorted(o["status"] for o in found)


@needs_pg
def test_two_actions_locking_two_records_in_turn_both_go_through(pg_shop):
    """A real deadlock: each holds one record and waits for the other's. PostgreSQL ends
    one of them, and the engine runs that one again once the other is through."""
    rt = pg_shop.rt
    customers = rt.records.table("crm.customer")
    ids = [
        rt.records.create(SYSTEM_USER, "crm.customer", {"name": name})["id"]
        for name in ("Ann", "Bo")
    ]
    both_hold_one = threading.Barrier(2, timeout=10)
    attempts: Counter = Counter()

    def in_turn(first: int, second: int) -> None:
        def work(conn):
            attempts[first] += 1
            for record_id in (first, second):
                conn.execute(
                    update(customers)
                    .where(customers.c.id == record_id)
                    .values(version=customers.c.version + 1)
                )
                if record_id == first and attempts[first] == 1:
                    both_hold_one.wait()

        rt.records.transaction(work)

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(in_turn, ids, ids[::-1]))
    assert sorted(attempts.values()) == [1, 2]
    assert [rt.records.get(SYSTEM_USER, "crm.customer", i)["version"] for i in ids] == [3, 3]


@needs_pg
def test_a_transition_that_loses_a_race_with_a_commit_runs_again(pg_shop, monkeypatch):
    """Someone changes the order between the transition's read and its write: the write's
    version check finds out, and the transition runs again on the order as it is now."""
    shop = pg_shop
    order = shop.order((shop.tea, 1))
    records, orders = shop.rt.records, shop.rt.records.table("oms.order")
    stored, reads = records.stored, []

    def read_then_changed_elsewhere(conn, *args):
        found = stored(conn, *args)
        reads.append(found.values["version"])
        if len(reads) == 1:
            with shop.rt.db.write() as other:
                other.execute(
                    update(orders)
                    .where(orders.c.id == order["id"])
                    .values(note="call first", version=orders.c.version + 1)
                )
        return found

    monkeypatch.setattr(records, "stored", read_then_changed_elsewhere)
    cancelled = shop.take("sales", "oms/order", order, "cancel")
    assert reads == [1, 2]
    assert (cancelled["status"], cancelled["note"], cancelled["version"]) == (
        "cancelled",
        "call first",
        3,
    )


@needs_pg
def test_simultaneous_arrivals_in_two_warehouses_all_serve_the_backorders(pg_shop):
    """Arrivals in different warehouses do not lock each other's stock, so each looks for
    the orders waiting under the item's lock: one never serves an order another served."""
    shop = pg_shop
    for _ in range(10):
        order = shop.order((shop.tea, 1))
        assert shop.take("sales", "oms/order", order, "confirm")["status"] == "backordered"
    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda i: receive(shop, (shop.east, shop.west)[i % 2]), range(10)))
    assert [status for status, _ in answers] == [201] * 10, answers
    assert orders_by_status(shop) == ["confirmed"] * 10
    assert [shop.stock(shop.tea, w) for w in (shop.east, shop.west)] == [(5, 5), (5, 5)]


@needs_pg
def test_arrivals_and_cancellations_at_once_all_go_through(pg_shop):
    """Arrivals serve the backorders while cancellations release stock to them, all of one
    item in one warehouse: every move locks the item before its stock, so they queue on
    it, and none is refused."""
    shop = pg_shop
    shop.purchase(shop.tea, 10)
    orders = [shop.order((shop.tea, 1)) for _ in range(20)]
    held = [shop.take("sales", "oms/order", order, "confirm") for order in orders]
    assert [order["status"] for order in held] == ["confirmed"] * 10 + ["backordered"] * 10

    def cancel(order):
        answer = shop.api["sales"].post(f"/api/v1/oms/order/{order['id']}/transitions/cancel")
        return answer.status_code, answer.json

    with ThreadPoolExecutor(max_workers=20) as pool:
        arrivals = [pool.submit(receive, shop, shop.east) for _ in range(10)]
        cancellations = [pool.submit(cancel, order) for order in held[:10]]
        answers = [f.result() for f in arrivals + cancellations]
    assert [status for status, _ in answers] == [201] * 10 + [200] * 10, answers
    assert orders_by_status(shop) == ["cancelled"] * 10 + ["confirmed"] * 10
    assert shop.stock(shop.tea) == (20, 10)
    assert shop.rt.balances.rebuild("stock") == 1
    assert shop.stock(shop.tea) == (20, 10)


@needs_pg
def test_each_process_keeps_the_connections_its_setting_asks_for(tmp_path):
    """Fifty threads on the default pool (ten, and ten more in a burst) waited for one."""
    environ = {"DATABASE_URL": PG_URL, "APPLOOM_DB_POOL_SIZE": "25"}
    settings = Settings.load({"instance_path": str(tmp_path)}, environ=environ)
    assert settings.db_pool_size == 25
    db = Database(settings.database_url, settings.db_pool_size)
    try:
        held = [db.engine.connect() for _ in range(50)]  # 25 kept and 25 more at once
        assert db.engine.pool.size() == 25 and len(held) == 50
        for conn in held:
            conn.close()
    finally:
        db.dispose()


def test_a_sqlite_write_lock_held_past_the_busy_timeout_is_waited_out(tmp_path):
    """On SQLite a writer that waited its busy timeout for another's lock (a rule script
    holding it) got "database is locked" as a 500."""
    url = f"sqlite:///{tmp_path / 'locked.db'}"
    holder = create_engine(url).connect()
    holder.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    holder.commit()
    impatient = create_engine(url, connect_args={"timeout": 0})
    holder.exec_driver_sql("BEGIN IMMEDIATE")
    threading.Timer(0.2, holder.rollback).start()  # the long script ends

    def write():
        with impatient.begin() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")

    work = flaky(0, error=deadlock)  # counts attempts
    retries.retrying(lambda: (work(), write()), attempts=12, pause=0.05)
    assert work.calls > 1  # it was locked out, then got through
    with impatient.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 1
    holder.close()
    impatient.dispose()
