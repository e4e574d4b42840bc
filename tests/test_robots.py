"""Group robots: WeCom, DingTalk and Feishu posts as their documents give them, received
by a local HTTP server that checks DingTalk's and Feishu's signatures as they do;
robots as instance settings that are never shown back; rules and roles that post."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from apploom.bundled_plugins import group_robots
from apploom.cli import main
from apploom.engine.automation import outbox
from apploom.engine.definitions.loading import Source, bundled_sources
from apploom.engine.errors import NotFound, ValidationFailed
from apploom.engine.storage.system_tables import sys_outbox, sys_rule_run
from tests.helpers import Shop, app_text, reopen

DING_SECRET = "SEC0123456789abcdef"
FEISHU_SECRET = "feishu-signing-secret"
SENDERS = group_robots.apploom_senders(None)


class RobotServer:
    """Answers as the three services do: 200 with an error code in the body for a post
    it refuses, a bad or missing signature among them."""

    def __init__(self):
        self.posts: list[dict] = []
        received = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                received.append({"path": parts.path, "query": query, "body": body})
                answer = _answer(parts.path, query, body)
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def _answer(path: str, query: dict, body: dict) -> dict:
    if path.startswith("/robot/send"):  # DingTalk
        timestamp, sign = query.get("timestamp", ""), query.get("sign", "")
        mac = hmac.new(DING_SECRET.encode(), f"{timestamp}\n{DING_SECRET}".encode(), "sha256")
        fresh = timestamp.isdigit() and abs(time.time() * 1000 - int(timestamp)) < 3600_000
        if not fresh or sign != base64.b64encode(mac.digest()).decode():
            return {"errcode": 310000, "errmsg": "sign not match"}
        return {"errcode": 0, "errmsg": "ok"}
    if path.startswith("/open-apis/bot/v2/hook/"):  # Feishu
        timestamp = body.get("timestamp", "")
        key = f"{timestamp}\n{FEISHU_SECRET}".encode()
        expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
        fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) < 3600
        if not fresh or body.get("sign") != expected:
            return {"code": 19021, "msg": "sign match fail or timestamp is not within one hour"}
        return {"code": 0, "msg": "success", "data": {}}
    if query.get("key") != "wecom-key":  # WeCom
        return {"errcode": 93000, "errmsg": "invalid webhook url"}
    return {"errcode": 0, "errmsg": "ok"}


@pytest.fixture
def robot_server():
    with RobotServer() as server:
        yield server


def message(fmt="text", **extra):
    return {
        "format": fmt,
        "title": "大单 SO-1",
        "text": "大单 SO-1：¥12,000.00",
        "link": "/a/oms/order/1",
        **extra,
    }


def test_wecom_gets_text_and_markdown_as_documented(robot_server):
    url = f"{robot_server.url}/cgi-bin/webhook/send?key=wecom-key"
    SENDERS["wecom"](message("text", url=url))
    SENDERS["wecom"](message("markdown", url=url))
    text, markdown = (p["body"] for p in robot_server.posts)
    assert text == {"msgtype": "text", "text": {"content": "大单 SO-1：¥12,000.00"}}
    assert markdown == {
        "msgtype": "markdown",
        "markdown": {
            "content": "**大单 SO-1**\n\n大单 SO-1：¥12,000.00\n\n[打开 Open](/a/oms/order/1)"
        },
    }


def test_a_refused_post_fails_with_the_robots_reason(robot_server):
    with pytest.raises(RuntimeError, match="93000 invalid webhook url"):
        SENDERS["wecom"](message(url=f"{robot_server.url}/cgi-bin/webhook/send?key=wrong"))


def test_dingtalk_signs_its_timestamp_and_gets_text_and_markdown(robot_server):
    url = f"{robot_server.url}/robot/send?access_token=ding-token"
    SENDERS["dingtalk"](message("text", url=url, secret=DING_SECRET))
    SENDERS["dingtalk"](message("markdown", url=url, secret=DING_SECRET))
    text, markdown = robot_server.posts
    assert text["query"]["access_token"] == "ding-token"
    assert set(text["query"]) == {"access_token", "timestamp", "sign"}
    assert text["body"] == {"msgtype": "text", "text": {"content": "大单 SO-1：¥12,000.00"}}
    assert markdown["body"] == {
        "msgtype": "markdown",
        "markdown": {
            "title": "大单 SO-1",
            "text": "**大单 SO-1**\n\n大单 SO-1：¥12,000.00\n\n[打开 Open](/a/oms/order/1)",
        },
    }
    with pytest.raises(RuntimeError, match="310000 sign not match"):
        SENDERS["dingtalk"](message(url=url, secret="SECnot-the-groups"))
    with pytest.raises(RuntimeError, match="310000"):
        SENDERS["dingtalk"](message(url=url))  # the group asks for a signature


def test_feishu_signs_in_the_body_and_gets_text_and_a_markdown_card(robot_server):
    url = f"{robot_server.url}/open-apis/bot/v2/hook/feishu-hook"
    SENDERS["feishu"](message("text", url=url, secret=FEISHU_SECRET))
    SENDERS["feishu"](message("markdown", url=url, secret=FEISHU_SECRET))
    text, card = (p["body"] for p in robot_server.posts)
    assert set(text) == {"timestamp", "sign", "msg_type", "content"}
    assert text["msg_type"] == "text" and text["content"] == {"text": "大单 SO-1：¥12,000.00"}
    assert {k: v for k, v in card.items() if k not in ("timestamp", "sign")} == {
        "msg_type": "interactive",
        "card": {
            "header": {"title": {"tag": "plain_text", "content": "大单 SO-1"}},
            "elements": [
                {
                    "tag": "div",
                    "text": {
                        "tag": "lark_md",
                        "content": "**大单 SO-1**\n\n大单 SO-1：¥12,000.00\n\n"
                        "[打开 Open](/a/oms/order/1)",
                    },
                }
            ],
        },
    }
    with pytest.raises(RuntimeError, match="19021"):
        SENDERS["feishu"](message(url=url, secret="another"))


def test_robots_are_kept_in_the_database_and_never_shown_back(runtime):
    robots = runtime.robots
    robots.save("sales-group", "dingtalk", "https://oapi.dingtalk.com/robot/send?access_token=T1",
                DING_SECRET, ["sales"])  # fmt: skip
    robots.save("sales-group", "dingtalk", roles=["sales", "manager"])  # the rest stays
    [shown] = robots.listing()
    assert shown["name"] == "sales-group" and shown["kind"] == "dingtalk"
    assert (shown["host"], shown["signed"], shown["roles"]) == (
        "oapi.dingtalk.com",
        True,
        ["manager", "sales"],
    )
    assert "T1" not in repr(shown) and DING_SECRET not in repr(shown)
    with pytest.raises(ValidationFailed) as refused:
        robots.save("Bad Name", "telegram", "ftp://x", roles=["nobody"])
    assert set(refused.value.fields) == {"name", "kind", "url", "roles"}
    assert "dingtalk, feishu, wecom" in refused.value.fields["kind"]
    robots.remove("sales-group")
    with pytest.raises(NotFound):
        robots.remove("sales-group")


def test_the_cli_sets_lists_and_removes_robots(runtime):
    cli = CliRunner()
    base = ["--instance", str(runtime.settings.instance_path), "--database-url",
            runtime.settings.database_url, "robots"]  # fmt: skip
    done = cli.invoke(
        main,
        [*base, "set", "ops", "--kind", "feishu", "--url",
         "https://open.feishu.cn/open-apis/bot/v2/hook/SECRET-HOOK", "--secret", "s3", "--role",
         "warehouse"],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    listed = cli.invoke(main, [*base, "list"])
    assert "ops" in listed.output and "open.feishu.cn" in listed.output
    assert "SECRET-HOOK" not in listed.output and "s3" not in listed.output.split()
    refused = cli.invoke(main, [*base, "set", "ops", "--kind", "fax"])
    assert refused.exit_code == 1 and "kind: 'fax' is not a robot" in refused.output
    assert cli.invoke(main, [*base, "remove", "ops"]).exit_code == 0


DESK = app_text("desk").replace(
    '- notify: {roles: [lead], message: "Urgent: {subject} from {customer}"}',
    '- notify: {roles: [lead], message: "Urgent: {subject} from {customer}", robot: desk-group}',
)


@pytest.fixture
def desk(runtime):
    rt = reopen(runtime, bundled_sources() + [Source("desk.yaml", DESK)])
    rt.agent = rt.users.create("ann", ["agent"], "password1234")
    rt.lead = rt.users.create("leo", ["lead"], "password1234")
    rt.shop = Shop(rt)
    yield rt
    rt.close()


def urgent_ticket(rt):
    return rt.records.create(
        rt.agent,
        "desk.ticket",
        {"subject": "打印机着火", "priority": 5, "customer": rt.shop.customer["id"]},
    )


def test_a_rule_posts_to_its_robot_and_a_role_to_its_own_through_the_outbox(desk, robot_server):
    desk.robots.save("desk-group", "dingtalk", f"{robot_server.url}/robot/send?access_token=D",
                     DING_SECRET)  # fmt: skip
    desk.robots.save("leads", "wecom", f"{robot_server.url}/cgi-bin/webhook/send?key=wecom-key",
                     roles=["lead"])  # fmt: skip
    ticket = urgent_ticket(desk)
    with desk.db.read() as conn:
        queued = conn.execute(select(sys_outbox).order_by(sys_outbox.c.id)).mappings().all()
    robots = [m for m in queued if m["kind"] in ("dingtalk", "wecom")]
    assert [(m["kind"], m["payload"]["robot"]) for m in robots] == [
        ("dingtalk", "desk-group"),
        ("wecom", "leads"),
    ]
    assert all("url" not in m["payload"] and "secret" not in m["payload"] for m in robots)
    assert outbox.deliver_due(desk.db, desk.senders) >= 2
    link = f"http://127.0.0.1:5000/a/desk/ticket/{ticket['id']}"
    by_path = {p["path"]: p for p in robot_server.posts}
    assert by_path["/robot/send"]["body"]["markdown"]["text"] == (
        f"**Urgent: 打印机着火 from 张三**\n\nUrgent: 打印机着火 from 张三\n\n[打开 Open]({link})"
    )
    assert by_path["/cgi-bin/webhook/send"]["body"]["msgtype"] == "markdown"
    with desk.db.read() as conn:
        sent = conn.execute(select(sys_outbox.c.kind, sys_outbox.c.status)).all()
    assert ("dingtalk", "sent") in sent and ("wecom", "sent") in sent


def test_a_robot_removed_before_its_post_went_out_fails_saying_so(desk, robot_server):
    desk.robots.save("desk-group", "wecom", f"{robot_server.url}/cgi-bin/webhook/send?key=x")
    urgent_ticket(desk)
    desk.robots.remove("desk-group")
    outbox.deliver_due(desk.db, desk.senders)
    [failed] = [m for m in outbox.messages(desk.db) if m["kind"] == "wecom"]
    assert (
        failed["status"] == "pending" and "There is no robot 'desk-group'" in failed["last_error"]
    )


def test_a_rule_naming_a_robot_not_set_up_says_so_in_its_run(desk):
    urgent_ticket(desk)
    with desk.db.read() as conn:
        said = conn.execute(
            select(sys_rule_run.c.actions).where(sys_rule_run.c.rule == "urgent")
        ).scalar_one()
    assert said[-1] == "notified 1 user(s); no robot desk-group is set up: not posted there"
