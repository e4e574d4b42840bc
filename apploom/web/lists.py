"""Lists staff use every day: filters, search, sort, paging, bulk actions and export,
balance lists, and the look-ups that ref inputs ask."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.datastructures import MultiDict

from apploom.engine.access import permissions
from apploom.engine.definitions.model import Entity
from apploom.engine.errors import BadQuery, Conflict, ValidationFailed
from apploom.engine.fields.base import parse_int
from apploom.engine.query.filters import SYSTEM_FIELDS, Query, parse_params
from apploom.web import export
from apploom.web.context import runtime
from apploom.web.display import key_titles, ref_titles, show
from apploom.web.errors import refusal
from apploom.web.i18n import current_language, label, translate
from apploom.web.session import check_csrf, login_required, safe_next

bp = Blueprint("lists", __name__)
bp.before_request(check_csrf)
LOOKUP_SIZE = 10
PAGE = 50
CHOICES = 50  # a balance's key with at most this many records is filtered by a select


def readable(entity: Entity) -> bool:
    return permissions.scope(runtime().apps, g.user, entity, "read") is not None


def allowed(entity: Entity) -> dict[str, bool]:
    """What the signed-in user may do with ``entity``, as the engine decides it."""
    return {
        action: permissions.scope(runtime().apps, g.user, entity, action) is not None
        for action in ("read", "create", "update", "delete")
    }


def partial(template: str, full: str, **context):
    """The fragment for an htmx request aimed at part of the page, else the whole page."""
    wanted = (
        request.headers.get("HX-Request")
        and not request.headers.get("HX-Boosted")
        and not request.headers.get("HX-History-Restore-Request")
    )
    response = current_app.make_response(render_template(template if wanted else full, **context))
    response.vary.add("HX-Request")
    return response


def list_params(args: MultiDict) -> dict[str, str]:
    """URL parameters as the query language reads them: repeated ones joined by commas,
    the form's own inputs (csrf_token, _lookup) and the API's field selection left out."""
    params = {}
    for key in args:
        values = [v for v in args.getlist(key) if v != ""]
        if values and key not in ("csrf_token", "fields") and not key.startswith("_"):
            params[key] = ",".join(values)
    return params


@bp.get("/a/<app>/<entity>")
@login_required
def entity_list(app: str, entity: str):
    rt = runtime()
    found = rt.records.entity(f"{app}.{entity}")
    # Any: url_for types its own _keywords, and list_params leaves out every _name
    params: dict[str, Any] = list_params(request.args)
    error = None
    try:
        page = rt.records.list(g.user, found.qualified, parse_params(params))
    except BadQuery as exc:
        error = "; ".join(f"{k}: {v}" for k, v in exc.fields.items()) or str(exc)
        params = {}
        page = rt.records.list(g.user, found.qualified, Query())
    columns = [found.fields.get(c) or SYSTEM_FIELDS[c] for c in found.list.columns]
    filters = [found.fields.get(f) or SYSTEM_FIELDS[f] for f in found.list.filters]
    context = dict(
        entity=found,
        page=page,
        params=params,
        columns=columns,
        error=error,
        titles=ref_titles(found, page.data),
        can=allowed(found),
        show=show,
        filters=filters,
        mine=[f for f in filters if rt.types[f.type].is_user],  # "Mine" chips: field=me
        limit=min(parse_params(params).limit or found.list.page_size, 500),
    )
    response = partial("lists/_results.html", "lists/list.html", **context)
    if request.headers.get("HX-Request"):  # the address bar shows the clean, shareable list
        response.headers["HX-Push-Url"] = url_for(
            "lists.entity_list", app=app, entity=entity, **params
        )
    return response


@bp.post("/a/<app>/<entity>/bulk")
@login_required
def bulk(app: str, entity: str):
    ref = f"{app}.{entity}"
    ids = list(dict.fromkeys(i for i in map(parse_int, request.form.getlist("ids")) if i))
    action = request.form.get("action", "")
    try:
        if action == "delete" and ids:
            count = runtime().records.delete_many(g.user, ref, ids)
            flash(f"{translate('Deleted.')} ({count})", "ok")
        elif action == "transition" and ids and request.form.get("transition"):
            done = runtime().transitions.take_many(g.user, ref, ids, request.form["transition"])
            flash(f"{translate('Saved.')} ({len(done)})", "ok")
    except (ValidationFailed, Conflict) as exc:  # a refusal of rights is the error page
        flash(refusal(exc), "error")
    return redirect(
        safe_next(request.form.get("back"), url_for("lists.entity_list", app=app, entity=entity)),
        code=303,
    )


@bp.get("/a/<app>/<entity>/export.<fmt>")
@login_required
def export_list(app: str, entity: str, fmt: str):
    rt = runtime()
    found = rt.records.entity(f"{app}.{entity}")
    params = list_params(request.args)
    return export.download(found, parse_params(params), fmt)


@bp.get("/a/<app>/balances/<name>")
@login_required
def balance_list(app: str, name: str):
    """A balance's rows (stock per item and warehouse), filtered by its keys, sortable."""
    rt = runtime()
    balance = rt.balances.get(name, app)
    ledger = rt.apps.entity(balance.ledger)
    where = {k: v for k in balance.by if (v := parse_int(request.args.get(k)))}
    offset = max(parse_int(request.args.get("offset")) or 0, 0)
    sort = request.args.get("sort") or None
    rows, total = rt.balances.rows(
        g.user, name, where, app=app, sort=sort, limit=PAGE, offset=offset
    )
    titles = {
        k: key_titles(
            ledger.fields[k], {r[k] for r in rows} | ({where[k]} if k in where else set())
        )
        for k in balance.by
    }
    choices = {}
    for k in balance.by:
        if not rt.types[ledger.fields[k].type].is_reference:
            continue  # the choices are a ref's records; other keys are not filtered by
        target = ledger.fields[k].target
        ids = {
            r["id"]
            for r in rt.records.list(g.user, target, Query(limit=CHOICES + 1, fields=("id",))).data
        }
        if len(ids) <= CHOICES:
            choices[k] = sorted(
                rt.records.titles(g.user, target, ids, current_language()).items(),
                key=lambda pair: pair[1],
            )

    def link(**changes) -> str:
        """This page with some parameters changed (None drops one)."""
        params = {**where, "sort": sort, **changes}
        return url_for(
            "lists.balance_list",
            app=app,
            name=name,
            **{k: v for k, v in params.items() if v not in (None, "", 0)},
        )

    return render_template(
        "lists/balance.html",
        balance=balance,
        ledger=ledger,
        rows=rows,
        total=total,
        where=where,
        sort=sort or "",
        offset=offset,
        titles=titles,
        page_size=PAGE,
        link=link,
        choices=choices,
    )


@bp.get("/lookup/<app>/<entity>")
@login_required
def lookup(app: str, entity: str):
    """Suggestions for a ref input: records of the target matching what was typed."""
    rt = runtime()
    ref = f"{app}.{entity}"
    text = request.args.get("_lookup", "").strip()
    page = rt.records.list(g.user, ref, Query(search=text or None, limit=LOOKUP_SIZE))
    ids = {r["id"] for r in page.data}
    titles = rt.records.titles(g.user, ref, ids, current_language()) if ids else {}
    return render_template(
        "lists/_lookup.html",
        items=[(r["id"], titles[r["id"]]) for r in page.data],
        target=request.args.get("for", ""),
    )


@bp.app_template_global()
def entity_label(entity: Entity) -> str:
    return label(entity.label)
