"""Telling users a record is theirs now: a user field with ``notify`` sends its message to
the user it comes to name, whoever put them there (an assignment rule, a manager on the
form, an import, the API), but for a user who put themselves there.

    owner: {type: user, notify: "Order {number} for {customer} is yours"}
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Connection, select

from apploom.engine.automation import notifications
from apploom.engine.expressions.sandbox import Row
from apploom.engine.storage.system_tables import sys_user

if TYPE_CHECKING:
    from apploom.engine.automation.service import Automation
    from apploom.engine.records.service import Change


def tell_new_holders(automation: Automation, conn: Connection, change: Change) -> None:
    """Notify each active user a ``notify`` user field of the changed record names now
    and did not before."""
    if change.after is None:
        return
    before = change.before.values if change.before is not None else {}
    after = change.after.values
    for fld in change.entity.fields.values():
        user_id = after.get(fld.name)
        if not fld.notify or user_id in (None, before.get(fld.name), change.user.id):
            continue
        active = conn.execute(
            select(sys_user.c.id).where(sys_user.c.id == user_id, sys_user.c.active)
        ).first()
        if active is not None:
            message = automation.written(conn, change.entity, Row(after), fld.notify)
            link = notifications.record_link(change.entity, change.record_id)
            kind = f"{change.entity.qualified}.{fld.name}"
            notifications.send(conn, [user_id], message, link, kind)
