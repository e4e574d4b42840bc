"""Notifications go where each user chose (bell, email, their roles' robots), fold into a
digest when the same kind piles up, and are read one by one or all at once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import inspect, select, text, update

from apploom.engine import clock
from apploom.engine.automation import choices, notifications
from apploom.engine.automation.choices import Choice
from apploom.engine.definitions.loading import Source, bundled_sources
from apploom.engine.errors import NotFound
from apploom.engine.storage import system_tables
from apploom.engine.storage.system_tables import (
    sys_notification,
    sys_outbox,
    sys_schedule,
    sys_user,
)
from tests.helpers import Shop, app_text, reopen


@pytest.fixture
def desk(runtime):
    rt = reopen(runtime, bundled_sources() + [Source("desk.yaml", app_text("desk"))])
    rt.agent = rt.users.create("ann", ["agent"], "password1234")
    rt.lead = rt.users.create("leo", ["lead"], "password1234", email="leo@example.cn")
    rt.shop = Shop(rt)
    yield rt
    rt.close()


def urgent(rt, subject="打印机着火"):
    return rt.records.create(
        rt.agent,
        "desk.ticket",
        {"subject": subject, "priority": 5, "customer": rt.shop.customer["id"]},
    )


def queued(rt, kind):
    with rt.db.read() as conn:
        rows = conn.execute(
            select(sys_outbox.c.payload).where(sys_outbox.c.kind == kind).order_by(sys_outbox.c.id)
        )
        return [r.payload for r in rows]


def test_by_default_the_bell_and_robots_tell_and_no_email_goes(desk):
    desk.robots.save("leads", "wecom", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k",
                     roles=["lead"])  # fmt: skip
    urgent(desk)
    assert desk.notifications.unread(desk.lead) == 1
    assert queued(desk, "email") == []  # the desk's own welcome email has no address here
    [post] = queued(desk, "wecom")
    assert post["robot"] == "leads" and post["text"] == "Urgent: 打印机着火 from 张三"


def test_a_user_who_chose_email_and_no_bell_or_robot_gets_an_email_only(desk):
    desk.robots.save("leads", "wecom", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k",
                     roles=["lead"])  # fmt: skip
    choices.choose(desk.db, desk.lead.id, Choice(bell=False, email=True, robot=False))
    assert choices.get(desk.db, desk.lead.id) == Choice(bell=False, email=True, robot=False)
    ticket = urgent(desk)
    assert desk.notifications.unread(desk.lead) == 0
    [kept] = desk.notifications.latest(desk.lead, "en")  # the list still holds it, as read
    assert kept["read_at"] is not None
    [email] = queued(desk, "email")
    assert email["to"] == "leo@example.cn"
    assert email["subject"] == "Urgent: 打印机着火 from 张三"
    assert email["link"] == f"/a/desk/ticket/{ticket['id']}"
    assert queued(desk, "wecom") == []


def test_email_is_not_sent_to_a_user_without_an_address(desk):
    with desk.db.write() as conn:
        conn.execute(update(sys_user).where(sys_user.c.id == desk.lead.id).values(email=None))
    choices.choose(desk.db, desk.lead.id, Choice(email=True))
    urgent(desk)
    assert queued(desk, "email") == [] and desk.notifications.unread(desk.lead) == 1


def test_the_same_kind_piling_up_folds_into_one_digest_entry_and_one_digest_email(desk):
    choices.choose(desk.db, desk.lead.id, Choice(bell=True, email=True))
    extra = 5
    for i in range(notifications.DIGEST_AFTER + extra):
        urgent(desk, f"工单{i}")
    items = desk.notifications.latest(desk.lead, "en")
    assert len(items) == notifications.DIGEST_AFTER + 1
    digest = items[0]
    assert digest["folded"] == extra and digest["message"] == f"Urgent: 工单{14} from 张三"
    assert desk.notifications.unread(desk.lead) == notifications.DIGEST_AFTER + 1
    assert len(queued(desk, "email")) == notifications.DIGEST_AFTER  # one each, then none
    base = "https://shop.example.cn"
    assert notifications.mail_digests(desk.db, base) == 1
    mail = queued(desk, "email")[-1]
    assert mail["to"] == "leo@example.cn"
    assert mail["subject"] == "5 条通知摘要"  # the business writes in Chinese unless set
    assert mail["body"] == f"5 × Urgent: 工单14 from 张三  {base}{digest['link']}"
    urgent(desk, "又一个")
    assert notifications.mail_digests(desk.db, base) == 0  # not before the next hour
    with desk.db.write() as conn:  # an hour on
        conn.execute(update(sys_schedule).values(last_run_at=clock.now() - timedelta(hours=2)))
    assert notifications.mail_digests(desk.db, base) == 1
    assert queued(desk, "email")[-1]["body"].startswith("1 × Urgent: 又一个 from 张三")


def test_other_kinds_and_old_notifications_do_not_fold(desk):
    for i in range(notifications.DIGEST_AFTER):
        urgent(desk, f"工单{i}")
    with desk.db.write() as conn:  # a day and more ago
        conn.execute(update(sys_notification).values(created_at=clock.now() - timedelta(hours=25)))
    urgent(desk, "新的")
    desk.records.delete(desk.lead, "desk.ticket", urgent(desk, "删掉")["id"])  # 'gone' rule
    assert [i["folded"] for i in desk.notifications.latest(desk.lead, "en")[:3]] == [None] * 3


def test_opening_a_notification_marks_it_read_and_mark_all_reads_the_rest(desk):
    first, second = urgent(desk, "一"), urgent(desk, "二")
    older, newer = sorted(desk.notifications.latest(desk.lead, "en"), key=lambda n: n["id"])
    assert desk.notifications.open(desk.lead, older["id"]) == f"/a/desk/ticket/{first['id']}"
    assert desk.notifications.unread(desk.lead) == 1
    with pytest.raises(NotFound):
        desk.notifications.open(desk.agent, newer["id"])  # not theirs
    desk.notifications.mark_read(desk.lead)
    assert desk.notifications.unread(desk.lead) == 0
    assert second["id"] != first["id"]


def test_a_database_from_before_digests_gets_their_columns(runtime):
    with runtime.db.write() as conn:
        conn.execute(text("DROP INDEX ix_sys_notification_kind"))
        for column in ("kind", "folded", "mailed"):
            conn.execute(text(f"ALTER TABLE sys_notification DROP COLUMN {column}"))
        system_tables.create(conn)
        columns = {c["name"] for c in inspect(conn).get_columns("sys_notification")}
        indexes = {i["name"] for i in inspect(conn).get_indexes("sys_notification")}
    assert {"kind", "folded", "mailed"} <= columns and "ix_sys_notification_kind" in indexes
