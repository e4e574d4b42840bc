"""The outbox: delivery by SMTP and webhook, retries with backoff, the dead-letter list,
and several workers never delivering one message twice."""

from __future__ import annotations

import email
import email.utils
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy import select, update

from apploom.engine.access.signatures import signature as sign
from apploom.engine.access.signatures import signature_problem
from apploom.engine.automation import outbox
from apploom.engine.automation.webhooks import webhook_sender
from apploom.engine.errors import NotFound
from apploom.engine.storage.database import Database
from apploom.engine.storage.system_tables import sys_outbox


def enqueue(rt, kind, payload):
    with rt.db.write() as conn:
        return outbox.enqueue(conn, kind, payload)


def message(rt, message_id):
    with rt.db.read() as conn:
        return dict(
            conn.execute(select(sys_outbox).where(sys_outbox.c.id == message_id)).mappings().one()
        )


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, envelope.content.decode("utf-8")))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp():
    """A real SMTP server on 127.0.0.1 that keeps what it receives."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield f"smtp://127.0.0.1:{port}", inbox
    controller.stop()


def test_email_is_delivered_through_smtp(sqlite_runtime, smtp):
    url, inbox = smtp
    message_id = enqueue(
        sqlite_runtime,
        "email",
        {"to": "li@example.cn", "subject": "已发货", "body": "Tracking SF123"},
    )
    senders = {"email": outbox.smtp_sender(url, "shop@example.com")}
    assert outbox.deliver_due(sqlite_runtime.db, senders) == 1
    [(to, content)] = inbox.messages
    assert to == ["li@example.cn"] and "Tracking SF123" in content
    assert message(sqlite_runtime, message_id)["status"] == "sent"
    assert outbox.deliver_due(sqlite_runtime.db, senders) == 0


def test_smtp_credentials_are_percent_decoded_from_the_url(sqlite_runtime):
    """A password with '@' or '/' must be percent-encoded in the URL; it was sent encoded."""
    inbox, logins = Inbox(), []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=True)

    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator,
        auth_require_tls=False,
    )
    controller.start()
    try:
        enqueue(sqlite_runtime, "email", {"to": "li@example.cn", "subject": "s", "body": "b"})
        url = f"smtp://shop%40example.com:p%40ss%2Fword@127.0.0.1:{port}"
        senders = {"email": outbox.smtp_sender(url, "shop@example.com")}
        assert outbox.deliver_due(sqlite_runtime.db, senders) == 1
    finally:
        controller.stop()
    assert logins == [("shop@example.com", "p@ss/word")] and len(inbox.messages) == 1


def test_webhooks_are_posted_and_signed(sqlite_runtime):
    received = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(
                (self.headers["X-AppLoom-Signature"], self.headers["X-AppLoom-Delivery"], body)
            )
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    enqueue(
        sqlite_runtime,
        "webhook",
        {
            "url": f"http://127.0.0.1:{server.server_port}/hook",
            "body": {"id": 7, "status": "shipped"},
        },
    )
    senders = {"webhook": webhook_sender("s3cret", lambda channel, name: None)}
    outbox.deliver_due(sqlite_runtime.db, senders)
    server.shutdown()
    server.server_close()
    [(signature, delivery, body)] = received
    assert delivery.isdigit()
    assert json.loads(body) == {"id": 7, "status": "shipped"}
    at = int(dict(part.split("=") for part in signature.split(","))["t"])
    assert signature == sign("s3cret", "/hook", body, at, direction="outbound")
    assert signature_problem("s3cret", "/hook", body, signature)  # not good for calling us


def test_failures_back_off_then_go_to_the_dead_letter_list_and_can_be_retried(sqlite_runtime):
    db = sqlite_runtime.db
    message_id = enqueue(sqlite_runtime, "email", {"to": "x@example.com", "subject": "s"})

    def broken(payload):
        raise ConnectionRefusedError("no mail server")

    def make_due():
        with db.write() as conn:
            conn.execute(update(sys_outbox).values(next_attempt_at=outbox._now()))

    outbox.deliver_due(db, {"email": broken})
    first = message(sqlite_runtime, message_id)
    assert (first["status"], first["attempts"]) == ("pending", 1)
    assert "no mail server" in first["last_error"]
    assert first["next_attempt_at"] > outbox._now()
    assert outbox.deliver_due(db, {"email": broken}) == 0  # not due yet: backing off
    for _ in range(outbox.MAX_ATTEMPTS - 1):
        make_due()
        outbox.deliver_due(db, {"email": broken})
    dead = message(sqlite_runtime, message_id)
    assert (dead["status"], dead["attempts"]) == ("dead", outbox.MAX_ATTEMPTS)
    assert [m["id"] for m in outbox.messages(db, "dead")] == [message_id]
    outbox.retry(db, message_id)
    sent = []
    outbox.deliver_due(db, {"email": sent.append})
    assert message(sqlite_runtime, message_id)["status"] == "sent" and len(sent) == 1
    with pytest.raises(NotFound):
        outbox.retry(db, message_id)


def test_backoff_grows_and_is_capped():
    assert [outbox.backoff(n).total_seconds() for n in (1, 2, 3, 10)] == [30, 60, 120, 3600]


def test_several_workers_never_deliver_a_message_twice(runtime):
    ids = [enqueue(runtime, "webhook", {"n": n}) for n in range(60)]
    delivered = []
    lock = threading.Lock()

    def record(payload):
        with lock:
            delivered.append(payload["n"])

    with ThreadPoolExecutor(max_workers=4) as pool:
        counts = list(
            pool.map(lambda _: outbox.deliver_due(runtime.db, {"webhook": record}), range(4))
        )
    assert sum(counts) == len(ids)
    assert sorted(delivered) == list(range(60))


def test_a_worker_thread_delivers_in_the_background(sqlite_runtime):
    delivered = threading.Event()
    worker = outbox.Worker(
        sqlite_runtime.db, {"webhook": lambda p: delivered.set()}, interval=0.05
    ).start()
    enqueue(sqlite_runtime, "webhook", {"n": 1})
    assert delivered.wait(5)
    worker.stop()


def test_a_slow_receiver_does_not_hold_the_database(sqlite_runtime):
    started, release = threading.Event(), threading.Event()

    def slow(payload):
        started.set()
        release.wait(10)

    enqueue(sqlite_runtime, "webhook", {"n": 1})
    sending = threading.Thread(
        target=outbox.deliver_due, args=(sqlite_runtime.db, {"webhook": slow})
    )
    sending.start()
    assert started.wait(5)
    before = time.monotonic()
    enqueue(sqlite_runtime, "webhook", {"n": 2})  # a write while the first is being sent
    assert time.monotonic() - before < 2
    release.set()
    sending.join(10)
    assert [m["status"] for m in outbox.messages(sqlite_runtime.db)] == ["sent", "sent"]


def test_the_worker_survives_a_failing_round(tmp_path, caplog):
    unreachable = Database(f"sqlite:///{tmp_path}/missing/folder/apploom.db")
    worker = outbox.Worker(unreachable, {}, interval=0.01).start()
    time.sleep(0.3)
    alive = worker._thread.is_alive()
    worker.stop()
    assert alive
    assert caplog.text.count("The outbox worker failed") >= 2


def test_emails_carry_a_message_id_kept_across_retries_and_a_date(sqlite_runtime, smtp):
    """Receivers drop a repeat (a worker that died mid-send) by its Message-ID."""
    url, inbox = smtp
    enqueue(sqlite_runtime, "email", {"to": ["li@example.cn", "desk@example.com"], "subject": "Hi"})
    senders = {"email": outbox.smtp_sender(url, "shop@example.com")}
    outbox.deliver_due(sqlite_runtime.db, senders)
    with sqlite_runtime.db.write() as conn:
        conn.execute(
            update(sys_outbox).values(status="pending", next_attempt_at=sys_outbox.c.created_at)
        )
    outbox.deliver_due(sqlite_runtime.db, senders)
    [(to, first), (_, again)] = inbox.messages
    assert to == ["li@example.cn", "desk@example.com"]
    headers = [email.message_from_string(m) for m in (first, again)]
    assert headers[0]["Message-ID"] == headers[1]["Message-ID"]
    assert headers[0]["Message-ID"].endswith("@example.com>")
    assert email.utils.parsedate_to_datetime(headers[0]["Date"]).tzinfo is not None
    enqueue(sqlite_runtime, "email", {"to": "a@example.com, spy@evil.example", "subject": "Hi"})
    outbox.deliver_due(sqlite_runtime.db, senders)
    assert len(inbox.messages) == 2  # refused, not sent to both
