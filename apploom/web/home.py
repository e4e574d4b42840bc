"""Where staff start: the launcher, each app's home with its dashboard and, for admins,
the outbox, with a notice when emails are not going out."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from apploom.engine.access import permissions
from apploom.engine.automation import outbox
from apploom.engine.messages import msg
from apploom.engine.query.filters import Query
from apploom.web import reports
from apploom.web.context import runtime
from apploom.web.i18n import translate
from apploom.web.lists import readable
from apploom.web.session import check_csrf, login_required

bp = Blueprint("home", __name__)
bp.before_request(check_csrf)


@bp.get("/")
@login_required
def launcher():
    apps = []
    for app in runtime().apps.ordered():
        entities = [e for e in app.entities.values() if not e.is_child and readable(e)]
        if entities:
            apps.append((app, entities))
    return render_template("home/launcher.html", apps=apps, email_trouble=_email_trouble())


@bp.get("/a/<app>")
@login_required
def app_home(app: str):
    found = runtime().apps.apps.get(app)
    entities = (
        [e for e in found.entities.values() if not e.is_child and readable(e)] if found else []
    )
    if not entities:
        return render_template("error.html", message=translate("Not found")), 404
    pages = {e.name: runtime().records.list(g.user, e.qualified, Query(limit=1)) for e in entities}
    counts = {name: f"{p.total}{'' if p.total_exact else '+'}" for name, p in pages.items()}
    balances = [b for e in entities for b in e.balances]
    return render_template(
        "home/app.html",
        app=found,
        entities=entities,
        counts=counts,
        balances=balances,
        tiles=reports.dashboard(found),
        listed=reports.listed(found),
        ranges=reports.RANGE_NAMES,
    )


@bp.get("/admin/outbox")
@login_required
def outbox_page():
    """The messages waiting or given up on (the dead-letter list), for admins to retry."""
    permissions.require_admin(g.user, msg("see the outbox"))
    status = request.args.get("status", "dead")
    return render_template(
        "home/outbox.html",
        status=status,
        items=outbox.messages(runtime().db, status or None),
        email_trouble=_email_trouble(),
    )


def _email_trouble() -> dict | None:
    """For admins: emails failing to go out (no mail server set, or none answering)."""
    return outbox.email_trouble(runtime().db) if g.user.is_admin else None


@bp.post("/admin/outbox/<int(max=9223372036854775807):message_id>/retry")
@login_required
def outbox_retry(message_id: int):
    permissions.require_admin(g.user, msg("retry messages"))
    outbox.retry(runtime().db, message_id)
    flash(translate("Saved."), "ok")
    return redirect(url_for("home.outbox_page"), code=303)
