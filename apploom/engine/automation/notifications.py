"""Notifications: what rules tell users, kept for their bell, and sent where each chose
(an email, their roles' group robots).

A user told the same kind of thing (one rule, one user field) more than
``DIGEST_AFTER`` times within ``DIGEST_WINDOW`` gets the rest folded into one digest
entry, which says how many it stands for and shows the latest; they are not emailed one
by one: the worker mails each user who chose email one digest of them every
``DIGEST_EVERY``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Iterable, Mapping

from sqlalchemy import Connection, func, select, update

from apploom.engine import catalogs, clock
from apploom.engine.access.permissions import User
from apploom.engine.automation import choices, outbox, robots
from apploom.engine.definitions.model import Entity, Label
from apploom.engine.errors import NotFound
from apploom.engine.messages import msg
from apploom.engine.storage.database import Database, insert_ignore
from apploom.engine.storage.system_tables import sys_notification, sys_schedule, sys_user

DIGEST_AFTER = 10
DIGEST_WINDOW = timedelta(hours=24)
DIGEST_EVERY = timedelta(hours=1)
_DIGEST_KEY = "notifications.digest"  # its row in sys_schedule: when digests last went out


def send(
    conn: Connection,
    user_ids: Iterable[int],
    message: Label | str,
    link: str | None,
    kind: str | None = None,
    robots_named: Iterable[str] = (),
) -> list[str]:
    """Tell users something, inside the caller's transaction: in their bell (already
    read, for a user who turned the bell off, so the list still holds it), by email in
    their language and on their roles' robots in the business's, as each chose;
    ``robots_named`` (a rule's) are posted to in any case. A plain text reads the same in
    every language. Returns the robots posted to."""
    if isinstance(message, str):
        message = Label(message, message)
    now = clock.now()
    ids = list(dict.fromkeys(user_ids))
    chosen = choices.of_users(conn, ids)
    users = conn.execute(
        select(sys_user.c.id, sys_user.c.email, sys_user.c.roles, sys_user.c.language).where(
            sys_user.c.id.in_(ids)
        )
    ).all()
    robot_roles: set[str] = set()
    for user in users:
        choice = chosen[user.id]
        if _keep(conn, user.id, message, link, kind, now, read=not choice.bell):
            continue  # folded into a digest, which tells it
        if choice.email and user.email and outbox.one_address(user.email):
            words = message.get(reader_language(user.language))
            outbox.enqueue(
                conn, "email", {"to": user.email, "subject": words, "body": words, "link": link}
            )
        if choice.robot:
            robot_roles.update(user.roles)
    posted = sorted(set(robots_named) | set(robots.of_roles(conn, robot_roles)))
    for name in posted:
        post(conn, name, message.get(catalogs.business_language()), link)
    return posted


def reader_language(chosen: str | None) -> str:
    """The language a user is written to in: the one they last read the screens in,
    else the business's."""
    return catalogs.known_language(chosen) or catalogs.business_language()


def told(row: Mapping) -> str | Label:
    """What a kept notification says: in both languages where it was kept so."""
    said = row.get("said")
    return Label(said["en"], said["zh"]) if said else row["message"]


def post(conn: Connection, robot: str, message: str, link: str | None) -> None:
    """Queue a post to a robot: markdown with the link when there is one, else text."""
    kind = robots.address(conn, robot)["kind"]
    payload = {"robot": robot, "format": "markdown" if link else "text", "text": message}
    outbox.enqueue(conn, kind, {**payload, "title": message[:64], "link": link})


def _worded(said: str | Label, lang: str) -> str:
    return said.get(lang) if isinstance(said, Label) else said


def _keep(
    conn: Connection,
    user_id: int,
    message: Label,
    link: str | None,
    kind: str | None,
    now: datetime,
    read: bool,
) -> bool:
    """Store the notification for the bell; True when it folded into a digest entry."""
    row = {
        "message": message.en,
        "said": {"en": message.en, "zh": message.zh},
        "link": link,
        "created_at": now,
        "read_at": now if read else None,
    }
    n = sys_notification.c
    recent = (n.user_id == user_id, n.kind == kind, n.created_at >= now - DIGEST_WINDOW)
    if kind is not None:
        count = conn.execute(select(func.count()).where(*recent)).scalar_one()
        if count >= DIGEST_AFTER:
            digest = conn.execute(
                select(n.id).where(*recent, n.folded.is_not(None)).order_by(n.id.desc()).limit(1)
            ).scalar()
            if digest is None:
                conn.execute(
                    sys_notification.insert().values(
                        user_id=user_id, kind=kind, folded=1, mailed=0, **row
                    )
                )
            else:
                conn.execute(
                    update(sys_notification)
                    .where(n.id == digest)
                    .values(folded=n.folded + 1, **row)
                )
            return True
    conn.execute(sys_notification.insert().values(user_id=user_id, kind=kind, **row))
    return False


def record_link(entity: Entity, record_id: int) -> str:
    """The page a notification about a record opens."""
    return f"/a/{entity.app}/{entity.name}/{record_id}"


def mail_digests(db: Database, base_url: str) -> int:
    """Every ``DIGEST_EVERY`` (whichever worker comes first), one email to each user who
    chose email, telling what folded into their digests since the last; the number sent."""
    now = clock.now()
    with db.write() as conn:
        if not _due(conn, now):
            return 0
        n = sys_notification.c
        rows = conn.execute(
            select(
                n.id,
                n.user_id,
                n.message,
                n.said,
                n.link,
                n.folded,
                n.mailed,
                sys_user.c.email,
                sys_user.c.language,
            )
            .join(sys_user, sys_user.c.id == n.user_id)
            .where(n.folded > func.coalesce(n.mailed, 0), sys_user.c.active)
            .order_by(n.user_id, n.id)
        ).all()
        chosen = choices.of_users(conn, {r.user_id for r in rows})
        lines: dict[tuple[str, str], list[str]] = defaultdict(list)
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for r in rows:
            conn.execute(update(sys_notification).where(n.id == r.id).values(mailed=r.folded))
            if chosen[r.user_id].email and r.email and outbox.one_address(r.email):
                lang = reader_language(r.language)
                new = r.folded - (r.mailed or 0)
                counts[r.email, lang] += new
                link = f"{base_url.rstrip('/')}{r.link}" if r.link else ""
                words = _worded(told(r._mapping), lang)
                lines[r.email, lang].append(f"{new} × {words}  {link}".rstrip())
        for (address, lang), digest in lines.items():
            subject = msg("{count} notifications in a digest", count=counts[address, lang])
            outbox.enqueue(
                conn,
                "email",
                {
                    "to": address,
                    "subject": catalogs.in_language(subject, lang),
                    "body": "\n".join(digest),
                },
            )
        return len(lines)


def _due(conn: Connection, now: datetime) -> bool:
    """Claim this round's digest run: true for one worker per ``DIGEST_EVERY``."""
    insert_ignore(conn, sys_schedule, {"key": _DIGEST_KEY, "last_run_at": now - DIGEST_EVERY})
    claimed = conn.execute(
        update(sys_schedule)
        .where(
            sys_schedule.c.key == _DIGEST_KEY,
            sys_schedule.c.last_run_at <= now - DIGEST_EVERY,
        )
        .values(last_run_at=now)
    )
    return claimed.rowcount == 1


class Notifications:
    def __init__(self, db: Database):
        self.db = db

    def unread(self, user: User) -> int:
        with self.db.read() as conn:
            return conn.execute(
                select(func.count())
                .select_from(sys_notification)
                .where(sys_notification.c.user_id == user.id, sys_notification.c.read_at.is_(None))
            ).scalar_one()

    def latest(self, user: User, lang: str, limit: int = 50) -> list[dict]:
        """The user's newest notifications, each message in ``lang`` where it was kept in
        both languages."""
        query = (
            select(sys_notification)
            .where(sys_notification.c.user_id == user.id)
            .order_by(sys_notification.c.created_at.desc(), sys_notification.c.id.desc())
            .limit(limit)
        )
        with self.db.read() as conn:
            return [
                {**r, "message": _worded(told(r), lang)} for r in conn.execute(query).mappings()
            ]

    def open(self, user: User, notification_id: int) -> str | None:
        """Mark one of the user's notifications read; the page it links to."""
        n = sys_notification.c
        with self.db.write() as conn:
            link = conn.execute(
                select(n.link).where(n.id == notification_id, n.user_id == user.id)
            ).first()
            if link is None:
                raise NotFound(msg("You have no notification {id}", id=notification_id))
            conn.execute(
                update(sys_notification)
                .where(n.id == notification_id, n.read_at.is_(None))
                .values(read_at=clock.now())
            )
            return link[0]

    def mark_read(self, user: User) -> None:
        with self.db.write() as conn:
            conn.execute(
                update(sys_notification)
                .where(sys_notification.c.user_id == user.id, sys_notification.c.read_at.is_(None))
                .values(read_at=clock.now())
            )
