"""Notifications on screen: the bell's list (opening one marks it read), each user's
choice of where theirs go, and, for admins, the group robots they may post to."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from apploom.engine.access import permissions
from apploom.engine.automation import choices
from apploom.engine.errors import ValidationFailed
from apploom.engine.messages import msg
from apploom.web.context import runtime
from apploom.web.i18n import current_language, translate
from apploom.web.session import check_csrf, login_required, safe_next

bp = Blueprint("notifying", __name__)
bp.before_request(check_csrf)
ID = "<int(max=9223372036854775807):notification_id>"


@bp.get("/notifications")
@login_required
def notifications():
    items = runtime().notifications.latest(g.user, current_language())
    return render_template("home/notifications.html", items=items)


@bp.get(f"/notifications/{ID}")
@login_required
def open_one(notification_id: int):
    """Open what a notification is about, marking it read."""
    link = runtime().notifications.open(g.user, notification_id)
    return redirect(safe_next(link, url_for("notifying.notifications")), code=303)


@bp.post("/notifications/read")
@login_required
def notifications_read():
    runtime().notifications.mark_read(g.user)
    return redirect(url_for("notifying.notifications"), code=303)


@bp.route("/settings/notifications", methods=["GET", "POST"])
@login_required
def settings():
    """Where the user's notifications go: the bell, email, their roles' robots."""
    db = runtime().db
    if request.method == "POST":
        chosen = {c: request.form.get(c) == "on" for c in choices.CHANNELS}
        choices.choose(db, g.user.id, choices.Choice(**chosen))
        flash(translate("Saved."), "ok")
        return redirect(url_for("notifying.settings"), code=303)
    return render_template(
        "home/settings.html",
        choice=choices.get(db, g.user.id),
        email=runtime().users.email(g.user.id),
    )


@bp.route("/admin/robots", methods=["GET", "POST"])
@login_required
def robots() -> ResponseReturnValue:
    """The group robots: added or changed (an address or secret left empty stays as it
    was) and removed; never shown back but for their host."""
    permissions.require_admin(g.user, msg("set up robots"))
    robots = runtime().robots
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = request.form
        try:
            if form.get("remove"):
                robots.remove(form["remove"])
                flash(translate("Deleted."), "ok")
            else:
                robots.save(
                    form.get("name", "").strip(),
                    form.get("kind", ""),
                    form.get("url") or None,
                    form.get("secret") or None,
                    form.getlist("roles"),
                )
                flash(translate("Saved."), "ok")
            return redirect(url_for("notifying.robots"), code=303)
        except ValidationFailed as exc:
            errors = exc.fields
    return render_template(
        "home/robots.html",
        robots=robots.listing(),
        kinds=robots.kinds,
        roles=sorted(robots.roles),
        errors=errors,
        form=request.form,
    ), (422 if errors else 200)
