"""The outbox: messages (emails, webhooks, robot posts) written in the same transaction
as the change that caused them, then delivered by workers with retries, backoff and a
dead-letter list.

A worker claims one due message at a time with ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL (SQLite serialises writers anyway), delivers it while holding the claim and
marks it sent, so several workers never deliver the same message twice. A message for a
group robot names it; its address and secret are read as it is sent (robots.py).
"""

from __future__ import annotations

import logging
import re
import smtplib
import threading
import uuid
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any, Callable, Mapping
from urllib.parse import unquote, urlsplit

from sqlalchemy import Connection, func, select, update

from apploom.engine import clock
from apploom.engine.automation import robots
from apploom.engine.errors import NotFound
from apploom.engine.storage.database import Database, inserted_id
from apploom.engine.storage.system_tables import sys_outbox

MAX_ATTEMPTS = 6
LEASE = timedelta(minutes=5)  # how long a claimed message is left to its worker
Sender = Callable[[dict], None]
log = logging.getLogger(__name__)
# one address: no separator or line break that would add a recipient or a header
_ADDRESS_PART = r"[^@\s,;:<>()\[\]\\\"]+"
_ONE_ADDRESS = re.compile(rf"{_ADDRESS_PART}@{_ADDRESS_PART}\.{_ADDRESS_PART}")


def _now() -> datetime:
    return clock.now()


def one_address(text: str) -> bool:
    """Whether ``text`` is exactly one email address."""
    return bool(_ONE_ADDRESS.fullmatch(text))


def enqueue(conn: Connection, kind: str, payload: dict) -> int:
    """Queue a message; an email gets the token of its Message-ID now, so that every
    attempt to send it carries the same one."""
    now = _now()
    if kind == "email":
        payload = {"message_id": uuid.uuid4().hex, **payload}
    return inserted_id(
        conn,
        sys_outbox.insert().values(
            kind=kind,
            payload=payload,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        ),
    )


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min ... at most an hour."""
    return timedelta(seconds=min(30 * 2 ** (attempts - 1), 3600))


def deliver_one(db: Database, senders: Mapping[str, Sender]) -> bool:
    """Deliver the oldest due message, if any; False when there was none to claim.

    The claim is a short transaction that marks the message 'sending' with a lease
    (``next_attempt_at``); the message is sent outside any transaction, so a slow
    receiver never holds the database; the outcome is recorded in another short one.
    A worker that dies mid-send leaves a lease that expires, and the message is sent
    again: receivers can drop repeats by the X-AppLoom-Delivery id."""
    with db.write() as conn:
        query = (
            select(sys_outbox)
            .where(
                sys_outbox.c.status.in_(("pending", "sending")),
                sys_outbox.c.next_attempt_at <= _now(),
            )
            .order_by(sys_outbox.c.id)
            .limit(1)
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        message = conn.execute(query).mappings().first()
        if message is None:
            return False
        conn.execute(
            update(sys_outbox)
            .where(sys_outbox.c.id == message["id"])
            .values(status="sending", next_attempt_at=_now() + LEASE)
        )
    attempts = message["attempts"] + 1
    outcome: dict[str, Any]
    try:
        sender = senders.get(message["kind"])
        if sender is None:
            raise RuntimeError(f"nothing delivers '{message['kind']}' messages")
        payload = message["payload"]
        sender({**payload, **_robot(db, payload), "delivery_id": message["id"]})
    except Exception as exc:  # noqa: BLE001 - any delivery failure is retried later
        dead = attempts >= MAX_ATTEMPTS
        outcome = {
            "status": "dead" if dead else "pending",
            "next_attempt_at": _now() + backoff(attempts),
            "last_error": f"{type(exc).__name__}: {exc}"[:2000],
        }
        log.log(
            logging.ERROR if dead else logging.WARNING,
            "outbox message %s (%s) failed, attempt %d of %d%s: %s",
            message["id"],
            message["kind"],
            attempts,
            MAX_ATTEMPTS,
            ": now a dead letter" if dead else "",
            outcome["last_error"],
        )
    else:
        outcome = {"status": "sent", "sent_at": _now(), "last_error": None}
    with db.write() as conn:
        conn.execute(
            update(sys_outbox)
            .where(sys_outbox.c.id == message["id"])
            .values(attempts=attempts, **outcome)
        )
    return True


def _robot(db: Database, payload: dict) -> dict:
    """The url and secret of the robot a message names, read now (none named: nothing)."""
    if not payload.get("robot"):
        return {}
    with db.read() as conn:
        found = robots.address(conn, payload["robot"])
    return {"url": found["url"], "secret": found["secret"]}


def deliver_due(db: Database, senders: Mapping[str, Sender], limit: int = 100) -> int:
    delivered = 0
    while delivered < limit and deliver_one(db, senders):
        delivered += 1
    return delivered


def retry(db: Database, message_id: int) -> None:
    """Put a dead (or failing) message back in line, to be tried again now."""
    with db.write() as conn:
        done = conn.execute(
            update(sys_outbox)
            .where(sys_outbox.c.id == message_id, sys_outbox.c.status != "sent")
            .values(status="pending", attempts=0, next_attempt_at=_now())
        )
        if done.rowcount != 1:
            raise NotFound(f"There is no undelivered message {message_id}")


def email_trouble(db: Database) -> dict | None:
    """Emails that failed to go out and wait to be tried again or were given up on: how
    many, and the latest error (the mail server is unset or unreachable, say); None when
    every email tried went out."""
    failing = (sys_outbox.c.kind == "email", sys_outbox.c.last_error.is_not(None))
    undelivered = sys_outbox.c.status.in_(("pending", "sending", "dead"))
    with db.read() as conn:
        count = conn.execute(select(func.count()).where(*failing, undelivered)).scalar_one()
        if not count:
            return None
        error = conn.execute(
            select(sys_outbox.c.last_error)
            .where(*failing, undelivered)
            .order_by(sys_outbox.c.id.desc())
            .limit(1)
        ).scalar_one()
    return {"count": count, "error": error}


def messages(db: Database, status: str | None = None, limit: int = 100) -> list[dict]:
    query = select(sys_outbox).order_by(sys_outbox.c.id.desc()).limit(limit)
    if status:
        query = query.where(sys_outbox.c.status == status)
    with db.read() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


class Worker:
    """Delivers due messages every ``interval`` seconds on a thread, until stopped."""

    def __init__(
        self,
        db: Database,
        senders: Mapping[str, Sender],
        interval: float = 2.0,
        also: Callable[[], object] | None = None,
    ):
        self.db = db
        self.senders = senders
        self.interval = interval
        self.also = also  # more work for each round (schedules, stalled jobs)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="apploom-outbox", daemon=True)

    def start(self) -> Worker:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self.also is not None:
                    self.also()
                deliver_due(self.db, self.senders)
            except Exception:  # noqa: BLE001 - a database hiccup must not end the worker
                log.exception("The outbox worker failed; it tries again shortly")
            self._stop.wait(self.interval)


def smtp_sender(url: str, sender_address: str, base_url: str = "") -> Sender:
    """Email through the SMTP server at ``url`` (smtp://user:password@host:port), to the
    payload's ``to`` (one address or a list), each exactly one address; a payload's
    ``link`` (a page's path) ends the body, under ``base_url``."""
    parts = urlsplit(url)
    domain = sender_address.rpartition("@")[2] or "localhost"

    def send(payload: dict) -> None:
        to = [payload["to"]] if isinstance(payload["to"], str) else list(payload["to"])
        wrong = [a for a in to if not isinstance(a, str) or not one_address(a)]
        if wrong or not to:
            raise ValueError(f"'to' must be one email address each, not {wrong or to!r}")
        token = payload.get("message_id") or f"outbox-{payload['delivery_id']}"
        message = EmailMessage()
        message["From"] = sender_address
        message["To"] = ", ".join(to)
        message["Subject"] = payload["subject"]
        message["Date"] = format_datetime(_now())
        message["Message-ID"] = f"<{token}@{domain}>"
        link = f"\n\n{base_url.rstrip('/')}{payload['link']}" if payload.get("link") else ""
        message.set_content(payload.get("body", "") + link)
        with smtplib.SMTP(parts.hostname or "127.0.0.1", parts.port or 25, timeout=10) as smtp:
            if parts.scheme == "smtp+starttls":
                smtp.starttls()
            if parts.username:  # percent-encoded in the URL, as a password with @ or / must be
                smtp.login(unquote(parts.username), unquote(parts.password or ""))
            smtp.send_message(message)

    return send
