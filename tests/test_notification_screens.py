"""The screens around notifications: opening one from the bell's list, each user's
choices, the admins' robots (never shown back), the notice that emails are not going
out, and refusals told on the page instead of a click that does nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from apploom.engine.access.permissions import SYSTEM_USER
from apploom.engine.automation import choices, notifications, outbox
from apploom.engine.definitions.model import Label
from apploom.engine.storage.system_tables import sys_outbox
from apploom.web import create_app
from tests.helpers import Shop, browser


@pytest.fixture
def app(sqlite_runtime):
    for name, roles in {"sue": ["sales"], "wes": ["warehouse"], "ada": ["admin"]}.items():
        sqlite_runtime.users.create(
            name, roles, "password1234", display_name=name.title(), email=f"{name}@example.cn"
        )
    return create_app(runtime=sqlite_runtime)


def test_opening_a_notification_marks_it_read_and_goes_to_its_page(app, sqlite_runtime):
    sue = sqlite_runtime.users.get("sue")
    with sqlite_runtime.db.write() as conn:
        notifications.send(conn, [sue.id], "Order 1", "/a/oms/order/1")
    [item] = sqlite_runtime.notifications.latest(sue, "en")
    b = browser(app, "sue")
    assert f'href="/notifications/{item["id"]}"' in b.get("/notifications").get_data(as_text=True)
    opened = b.get(f"/notifications/{item['id']}")
    assert opened.status_code == 303 and opened.headers["Location"] == "/a/oms/order/1"
    assert sqlite_runtime.notifications.unread(sue) == 0
    assert browser(app, "wes").get(f"/notifications/{item['id']}").status_code == 404


def test_a_digest_entry_says_how_many_it_stands_for(app, sqlite_runtime):
    sue = sqlite_runtime.users.get("sue")
    with sqlite_runtime.db.write() as conn:
        for i in range(notifications.DIGEST_AFTER + 3):
            notifications.send(conn, [sue.id], f"Order {i}", "/a/oms/order/1", kind="oms.order.x")
    b = browser(app, "sue")
    b.get("/lang/zh?next=/")
    assert "另有 3 条同类通知" in b.get("/notifications").get_data(as_text=True)


def test_users_choose_where_their_notifications_go(app, sqlite_runtime):
    b = browser(app, "sue")
    page = b.get("/settings/notifications").get_data(as_text=True)
    assert 'name="bell" checked' in page and "sue@example.cn" in page
    assert b.post("/settings/notifications", {"email": "on"}).status_code == 303
    sue = sqlite_runtime.users.get("sue")
    assert choices.get(sqlite_runtime.db, sue.id) == choices.Choice(False, True, False)


def test_admins_set_robots_on_a_screen_that_never_shows_their_address(app, sqlite_runtime):
    assert browser(app, "sue").get("/admin/robots").status_code == 403
    b = browser(app, "ada")
    b.get("/admin/robots")
    done = b.post(
        "/admin/robots",
        {"name": "ops", "kind": "dingtalk", "secret": "SECsecret",
         "url": "https://oapi.dingtalk.com/robot/send?access_token=HIDDEN", "roles": "warehouse"},
    )  # fmt: skip
    assert done.status_code == 303
    page = b.get("/admin/robots").get_data(as_text=True)
    assert "oapi.dingtalk.com" in page and "HIDDEN" not in page and "SECsecret" not in page
    refused = b.post("/admin/robots", {"name": "Bad", "kind": "fax", "url": "x"})
    assert refused.status_code == 422 and "is not a robot" in refused.get_data(as_text=True)
    assert b.post("/admin/robots", {"remove": "ops"}).status_code == 303
    assert sqlite_runtime.robots.listing() == []


def test_admins_see_once_that_emails_are_not_going_out(app, sqlite_runtime):
    with sqlite_runtime.db.write() as conn:
        for i in range(3):
            outbox.enqueue(conn, "email", {"to": f"c{i}@example.cn", "subject": "s"})
    refused = {"email": outbox.smtp_sender("smtp://127.0.0.1:9", "shop@example.cn")}
    outbox.deliver_due(sqlite_runtime.db, refused)
    admin = browser(app, "ada")
    admin.get("/lang/zh?next=/")
    home = admin.get("/").get_data(as_text=True)
    assert home.count("邮件未能发出：3 封待发送或已放弃。") == 1 and "APPLOOM_SMTP_URL" in home
    assert "邮件未能发出" in admin.get("/admin/outbox").get_data(as_text=True)
    assert "APPLOOM_SMTP_URL" not in browser(app, "sue").get("/").get_data(as_text=True)
    with sqlite_runtime.db.write() as conn:
        conn.execute(update(sys_outbox).values(status="sent"))
    assert "APPLOOM_SMTP_URL" not in admin.get("/").get_data(as_text=True)


def test_a_refused_bulk_transition_says_why_in_chinese(app, sqlite_runtime):
    order = sqlite_runtime.records.create(SYSTEM_USER, "oms.order", Shop(sqlite_runtime).order())
    b = browser(app, "wes")  # warehouse may not confirm orders
    b.get("/lang/zh?next=/")
    b.get("/a/oms/order")
    answer = b.post(
        "/a/oms/order/bulk",
        {"ids": str(order["id"]), "action": "transition", "transition": "confirm",
         "back": "/a/oms/order"},
    )  # fmt: skip
    page = answer.get_data(as_text=True)
    assert answer.status_code == 403
    assert "<h1>你无权执行此操作</h1>" in page and "不能执行“确认订单”" in page  # the why, too


def test_an_htmx_request_refused_puts_its_reason_in_the_alerts(app, sqlite_runtime):
    b = browser(app, "sue")
    b.get("/")
    answer = b.client.get("/admin/outbox", headers={"HX-Request": "true"})
    assert answer.status_code == 403
    assert answer.headers["HX-Retarget"] == "#alerts"
    assert 'role="alert"' in answer.get_data(as_text=True)
    boosted = b.client.get("/admin/outbox", headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert "HX-Retarget" not in boosted.headers and "<h1>" in boosted.get_data(as_text=True)


def test_each_user_reads_a_notification_in_the_language_they_chose_and_is_emailed_in_it(
    app, sqlite_runtime
):
    sue, wes = sqlite_runtime.users.get("sue"), sqlite_runtime.users.get("wes")
    for user in (sue, wes):
        choices.choose(sqlite_runtime.db, user.id, choices.Choice(email=True))
    b = browser(app, "sue")
    b.get("/lang/en")  # sue reads English; wes never chose, so the business's Chinese
    with sqlite_runtime.db.write() as conn:
        said = Label("Order SO-1 is yours", "订单 SO-1 由您负责")
        notifications.send(conn, [sue.id, wes.id], said, "/a/oms/order/1")
    mails = {m["payload"]["to"]: m["payload"] for m in outbox.messages(sqlite_runtime.db)}
    assert mails["sue@example.cn"]["subject"] == "Order SO-1 is yours"
    assert mails["wes@example.cn"]["subject"] == "订单 SO-1 由您负责"
    b.get("/lang/zh")
    assert "订单 SO-1 由您负责" in b.get("/notifications").get_data(as_text=True)
    b.get("/lang/en")
    assert "Order SO-1 is yours" in b.get("/notifications").get_data(as_text=True)
