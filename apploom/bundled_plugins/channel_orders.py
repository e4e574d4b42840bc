"""Orders from sales channels: each channel the OMS definition declares (``channels:`` in
apps/oms.yaml) takes its platform's order webhooks at POST /hooks/orders/<channel>, signed
as that platform signs, under the secret set with `apploom channels secret` (applied at
once, never shown). The order is made, or brought up to date, as APPLOOM_WEBHOOK_USER:
201 with ``{"outcome": "created", "order": ...}`` the first time, 200 after (``updated``,
``unchanged``, ``older`` or ``repeated``). A payload the mapping cannot read is refused
with 422 naming the path, and kept in the inbox (/admin/channels) to fix and replay.
The page also shows how the polled channels' pulls go: when the next is due, how many
failed in a row, and the last error.
"""

from __future__ import annotations

import re
from typing import Mapping, cast

from flask import Blueprint, flash, g, jsonify, redirect, render_template, request, url_for

from apploom.plugin import (
    SIGNING,
    AppLoomError,
    NotFound,
    ValidationFailed,
    check_csrf,
    hookimpl,
    login_required,
    msg,
    require_admin,
    runtime,
    translate,
)

ID = "<int(max=9223372036854775807):entry_id>"
SECRET_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
hooks = Blueprint("channel_orders", __name__)
admin = Blueprint("channel_inbox", __name__)
admin.before_request(check_csrf)


@hooks.post("/hooks/orders/<channel>")
def receive(channel: str):
    rt = runtime()
    if not rt.settings.webhook_user:
        raise NotFound("Set APPLOOM_WEBHOOK_USER: the user channels' orders are made as.")
    done = rt.channels.receive(
        rt.users.get(rt.settings.webhook_user),
        channel,
        request.path,
        cast(Mapping[str, str], request.headers),  # looked up in any case, as HTTP has it
        request.get_data(),
    )
    answer = {"outcome": done.outcome, "order": done.order}
    return jsonify(answer), 201 if done.outcome == "created" else 200


@admin.get("/admin/channels")
@login_required
def inbox():
    """The channels, which of them have their secret, how the polled ones' pulls go,
    and the payloads waiting."""
    _admin_only()
    rt = runtime()
    channels = [
        (name, channel, rt.channel_secrets.names(name))
        for app in rt.apps.ordered()
        for name, channel in app.channels.items()
    ]
    status = request.args.get("status", "waiting")
    return render_template(
        "channels/inbox.html",
        channels=channels,
        pulls=rt.pulls.states(),
        status=status,
        entries=rt.channels.inbox.list(status or None),
    )


@admin.get(f"/admin/channels/inbox/{ID}")
@login_required
def entry(entry_id: int, body: str | None = None):
    _admin_only()
    found = runtime().channels.inbox.get(entry_id)
    return render_template("channels/entry.html", entry=found, body=body or found["body"])


@admin.post(f"/admin/channels/inbox/{ID}/replay")
@login_required
def replay(entry_id: int):
    """Take the payload again, as the admin fixed it: one transaction, as a delivery is."""
    _admin_only()
    body = request.form.get("body", "")
    try:
        runtime().channels.replay(g.user, entry_id, body)
    except AppLoomError:  # the entry keeps the body as fixed so far and the new reason
        return entry(entry_id, body), 422
    flash(translate("Saved."), "ok")
    return redirect(url_for("channel_inbox.inbox"), code=303)


@admin.post("/admin/channels/<channel>/secret")
@login_required
def set_secret(channel: str):
    """Set (or replace) one of the channel's secrets; it applies to the next call, and is
    never shown again."""
    _admin_only()
    rt = runtime()
    rt.channels.find(channel)
    name = request.form.get("name") or SIGNING
    value = request.form.get("value", "")
    if not SECRET_NAME.fullmatch(name) or not value.strip():
        raise ValidationFailed({"value" if SECRET_NAME.fullmatch(name) else "name": (
            "give the secret's value" if SECRET_NAME.fullmatch(name)
            else "a-z, 0-9 and _, starting with a letter"
        )})  # fmt: skip
    rt.channel_secrets.set(channel, value, name)
    flash(translate("Saved."), "ok")
    return redirect(url_for("channel_inbox.inbox"), code=303)


def _admin_only() -> None:
    require_admin(g.user, msg("see the channels' inbox"))


@hookimpl
def apploom_routes(app):
    app.register_blueprint(hooks)
    app.register_blueprint(admin)
