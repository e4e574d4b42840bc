"""Group robots: the WeCom, DingTalk and Feishu group chats notifications post to.

A robot is an instance setting kept in the database (``apploom robots set`` or the
admin's Robots screen): a name, the outbox sender that posts to it (its kind), its
webhook address and, when the group asks for signed posts, its secret. The address
holds the robot's key, so neither it nor the secret is ever shown back: a listing says
only the kind, the host and whether it signs. Outbox messages name the robot, and the
worker reads its address when it sends, so the outbox never holds a secret and a
changed address applies to messages still waiting.
"""

from __future__ import annotations

import re
from typing import Collection, Iterable
from urllib.parse import urlsplit

from sqlalchemy import Connection, delete, select

from apploom.engine import clock
from apploom.engine.errors import NotFound, ValidationFailed
from apploom.engine.storage.database import Database
from apploom.engine.storage.system_tables import sys_robot

NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")


class Robots:
    def __init__(self, db: Database, kinds: Collection[str], roles: Collection[str]):
        """``kinds``: the outbox senders that post to robots; ``roles``: the apps' roles."""
        self.db = db
        self.kinds = sorted(kinds)
        self.roles = set(roles)

    def save(
        self,
        name: str,
        kind: str,
        url: str | None = None,
        secret: str | None = None,
        roles: Iterable[str] | None = None,
    ) -> None:
        """Add a robot, or change one: what is left out (None) stays as it was; an empty
        secret removes it."""
        with self.db.write() as conn:
            old = conn.execute(select(sys_robot).where(sys_robot.c.name == name)).mappings().first()
            values = {
                "kind": kind,
                "url": (url if url is not None else old["url"] if old else "").strip(),
                "secret": (secret if secret is not None else old["secret"] if old else None)
                or None,
                "roles": sorted(set(roles if roles is not None else old["roles"] if old else ())),
                "updated_at": clock.now(),
            }
            self._check(name, values)
            if old is None:
                conn.execute(sys_robot.insert().values(name=name, **values))
            else:
                conn.execute(sys_robot.update().where(sys_robot.c.name == name).values(**values))

    def _check(self, name: str, values: dict) -> None:
        problems = {}
        if not NAME.fullmatch(name):
            problems["name"] = "must be lower-case letters, digits, - or _ (like sales-group)"
        if values["kind"] not in self.kinds:
            problems["kind"] = f"'{values['kind']}' is not a robot; choose {', '.join(self.kinds)}"
        parts = urlsplit(values["url"])
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problems["url"] = "must be the robot's webhook address, starting with https://"
        unknown = sorted(set(values["roles"]) - self.roles)
        if unknown:
            problems["roles"] = (
                f"{', '.join(unknown)}: not a role; known roles: {', '.join(sorted(self.roles))}"
            )
        if problems:
            raise ValidationFailed(problems)

    def remove(self, name: str) -> None:
        with self.db.write() as conn:
            if conn.execute(delete(sys_robot).where(sys_robot.c.name == name)).rowcount != 1:
                raise NotFound(f"There is no robot '{name}'")

    def listing(self) -> list[dict]:
        """Every robot as it may be shown: no address, no secret."""
        with self.db.read() as conn:
            rows = conn.execute(select(sys_robot).order_by(sys_robot.c.name)).mappings().all()
        return [
            {
                "name": r["name"],
                "kind": r["kind"],
                "host": urlsplit(r["url"]).hostname or "",
                "signed": bool(r["secret"]),
                "roles": list(r["roles"]),
                "updated_at": r["updated_at"],
            }
            for r in rows
        ]


def names(conn: Connection) -> set[str]:
    return set(conn.execute(select(sys_robot.c.name)).scalars())


def of_roles(conn: Connection, roles: Collection[str]) -> list[str]:
    """The robots posting the notifications of any of ``roles``."""
    wanted = set(roles)
    rows = conn.execute(select(sys_robot.c.name, sys_robot.c.roles).order_by(sys_robot.c.name))
    return [name for name, held in rows if wanted & set(held)]


def address(conn: Connection, name: str) -> dict:
    """What the sender needs to post to robot ``name``: its kind, url and secret."""
    row = conn.execute(select(sys_robot).where(sys_robot.c.name == name)).mappings().first()
    if row is None:
        raise NotFound(f"There is no robot '{name}' (apploom robots list shows them)")
    return {"kind": row["kind"], "url": row["url"], "secret": row["secret"]}
