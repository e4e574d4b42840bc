"""The warehouse floor's screens at /floor: pick a parcel, receive a purchase order,
count stock, look anything up, each by scanning. A USB or Bluetooth scanner types
like a keyboard, fast and ending in Enter, into the screen's scan box; a phone scans
with its camera (the vendored html5-qrcode, static/floor.js). Each scan is the record's
``scan`` webhook (see floor_scans), so the engine checks it, not the page; the page only
shows the answer, with a sound for a refusal.
"""

from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, request, url_for

from apploom.plugin import (
    AppLoomError,
    Condition,
    Forbidden,
    Label,
    Query,
    RecordRefused,
    ValidationFailed,
    check_csrf,
    current_language,
    hookimpl,
    login_required,
    require_permission,
    runtime,
    show,
)

SHIPMENTS, ORDERS, ITEMS = "oms.shipment", "oms.order", "wms.item"
PURCHASES, RECEIPTS, COUNTS = "wms.purchase_order", "wms.goods_receipt", "wms.stock_count"
WAREHOUSES = "wms.warehouse"
# What a scanned code may be, entity by entity: the fields that hold it exactly.
CODES = (
    (SHIPMENTS, ("number", "tracking_number")),
    (ORDERS, ("number", "external_id")),
    (PURCHASES, ("number",)),
    (RECEIPTS, ("number",)),
    (COUNTS, ("number",)),
    ("oms.return", ("number",)),
    ("oms.payment", ("number",)),
    (ITEMS, ("sku", "barcode")),
)
# The screens, and the entity each needs to change.
SCREENS = {
    "pick": (Label("Pick", "拣货"), SHIPMENTS),
    "receive": (Label("Receive", "收货"), PURCHASES),
    "count": (Label("Count", "盘点"), COUNTS),
    "lookup": (Label("Look up", "查询"), None),
}
NOTHING = Label("Nothing has the code {code}", "没有单据或商品的编码是 {code}")
pages = Blueprint("floor", __name__, url_prefix="/floor")
pages.before_request(check_csrf)
ID = "<int(max=9223372036854775807):record_id>"


def screens() -> list[tuple[str, Label]]:
    """The floor's screens this user may work in."""
    rt = runtime()
    shown = []
    for name, (title, ref) in SCREENS.items():
        entity = rt.apps.find(ref) if ref else None
        if ref is None or (entity is not None and _may(entity, "update")):
            shown.append((name, title))
    return shown


def _may(entity, action: str) -> bool:
    try:
        require_permission(runtime().apps, g.user, entity, action)
    except Forbidden:
        return False
    return True


def found(code: str, refs: tuple[str, ...] = ()) -> list[tuple[str, dict]]:
    """Records the user may read whose code is exactly ``code``: (entity, record)."""
    rt = runtime()
    hits = []
    for ref, fields in CODES:
        if (refs and ref not in refs) or rt.apps.find(ref) is None:
            continue
        try:
            page = rt.records.list(g.user, ref, Query(search=code, limit=50))
        except Forbidden:
            continue
        hits += [
            (ref, record)
            for record in page.data
            if any(_holds(name, record.get(name), code) for name in fields)
        ]
    return hits


def _holds(name: str, value, code: str) -> bool:
    """Whether a field's value is the code: a SKU in any case, an order's tracking
    numbers one of them."""
    if not value:
        return False
    if name == "tracking_number":
        return code in (part.strip() for part in str(value).split(","))
    return value == (code.upper() if name == "sku" else code)


def record_url(ref: str, record_id: int) -> str:
    app, _, entity = ref.partition(".")
    return url_for("records.view", app=app, entity=entity, record_id=record_id)


def scanned(ref: str, record_id: int) -> dict:
    """Send the form's code (and quantity) to the record's scan webhook; the answer to
    show: ``ok`` or not, and a message in both languages."""
    code = (request.form.get("code") or "").strip()
    payload: dict = {"code": code}
    if request.form.get("qty"):
        payload["qty"] = request.form["qty"].strip()
    try:
        runtime().automation.call_webhook(g.user, ref, record_id, "scan", payload)
    except RecordRefused as exc:
        en = "; ".join(exc.fields.values())
        return {"ok": False, "said": Label(en, "; ".join(exc.zh.values()) or en), "code": code}
    except ValidationFailed as exc:
        en = "; ".join(exc.fields.values()) or str(exc)
        return {"ok": False, "said": Label(en, en), "code": code}
    except AppLoomError as exc:
        return {"ok": False, "said": Label(str(exc), str(exc)), "code": code}
    return {"ok": True, "said": Label(f"Scanned {code}", f"已扫描 {code}"), "code": code}


def _step(ref: str, record_id: int, name: str, data: dict | None = None) -> dict | None:
    """Take a transition for the user; a refusal, as a message to show."""
    try:
        runtime().transitions.take(g.user, ref, record_id, name, data or {})
    except (ValidationFailed, AppLoomError) as exc:
        details = getattr(exc, "fields", None) or {}
        text = "; ".join(details.values()) if details else str(exc)
        return {"ok": False, "said": Label(text, text), "code": ""}
    return None


def _answer(template: str, status: int = 200, **context):
    """A screen whole, or its panel alone for the scan box's htmx request."""
    panel = request.headers.get("HX-Request") and not request.headers.get("HX-Boosted")
    name = f"floor/_{template}_panel.html" if panel else f"floor/{template}.html"
    return render_template(name, screens=screens(), **context), status


@pages.get("/")
@login_required
def index():
    return render_template("floor/index.html", screens=screens())


@pages.get("/lookup")
@login_required
def lookup():
    """Open what the code is; several records: a list to choose from."""
    code = (request.args.get("code") or "").strip()
    hits = found(code) if code else []
    if len(hits) == 1:
        ref, record = hits[0]
        return redirect(record_url(ref, record["id"]), code=303)
    return render_template(
        "floor/lookup.html", screens=screens(), code=code, hits=_listed(hits), nothing=NOTHING
    )


def _listed(hits: list[tuple[str, dict]]) -> list[dict]:
    rt = runtime()
    return [
        {
            "url": record_url(ref, record["id"]),
            "kind": rt.records.entity(ref).label,
            "title": rt.records.titles(g.user, ref, {record["id"]}, current_language())[
                record["id"]
            ],
            "status": record.get("status"),
            "entity": rt.records.entity(ref),
        }
        for ref, record in hits
    ]


@pages.get("/pick")
@login_required
def pick_start():
    """Scan an order or a parcel: its parcel being picked opens; an order confirmed but
    not yet picked can start picking here."""
    code = (request.args.get("code") or "").strip()
    hits = found(code, (SHIPMENTS, ORDERS)) if code else []
    parcels = [r for ref, r in hits if ref == SHIPMENTS]
    orders = [r for ref, r in hits if ref == ORDERS]
    for order in orders:
        parcels += _parcels_of(order)
    open_ = [p for p in parcels if p["status"] == "picking"]
    if len({p["id"] for p in open_}) == 1:
        return redirect(url_for("floor.pick", record_id=open_[0]["id"]), code=303)
    return render_template(
        "floor/pick_start.html",
        screens=screens(),
        code=code,
        parcels=_listed([(SHIPMENTS, p) for p in {p["id"]: p for p in parcels}.values()]),
        startable=[o for o in orders if o["status"] == "confirmed"],
        searched=bool(code),
        nothing=NOTHING,
    )


def _parcels_of(order: dict) -> list[dict]:
    query = Query(conditions=(Condition("order", "eq", order["id"]),), limit=50)
    return runtime().records.list(g.user, SHIPMENTS, query).data


@pages.post(f"/pick/order/{ID}/start")
@login_required
def pick_order(record_id: int):
    refused = _step(ORDERS, record_id, "pick")
    number = runtime().records.get(g.user, ORDERS, record_id)["number"]
    if refused:
        return render_template(
            "floor/pick_start.html",
            screens=screens(),
            code=number,
            parcels=[],
            startable=[],
            searched=False,
            answer=refused,
            nothing=NOTHING,
        ), 422
    return redirect(url_for("floor.pick_start", code=number), code=303)


def _parcel(record_id: int, answer: dict | None = None, status: int = 200):
    rt = runtime()
    parcel = rt.records.get(g.user, SHIPMENTS, record_id)
    entity = rt.records.entity(SHIPMENTS)
    titles = rt.records.titles(
        g.user, ITEMS, {line["item"] for line in parcel["lines"]}, current_language()
    )
    done = all((line["picked"] or 0) >= line["qty"] for line in parcel["lines"])
    return _answer(
        "pick",
        status,
        parcel=parcel,
        entity=entity,
        detail=" · ".join(
            rt.records.titles(g.user, ref, {key}, current_language())[key]
            for ref, key in ((ORDERS, parcel["order"]), (WAREHOUSES, parcel["warehouse"]))
        ),
        titles=titles,
        done=done,
        carriers=entity.fields["carrier"],
        answer=answer,
        show=show,
    )


@pages.get(f"/pick/{ID}")
@login_required
def pick(record_id: int):
    return _parcel(record_id)[0]


@pages.post(f"/pick/{ID}/scan")
@login_required
def pick_scan(record_id: int):
    answer = scanned(SHIPMENTS, record_id)
    return _parcel(record_id, answer, 200 if answer["ok"] else 422)


@pages.post(f"/pick/{ID}/ship")
@login_required
def ship(record_id: int):
    refused = _step(SHIPMENTS, record_id, "ship", {"carrier": request.form.get("carrier", "")})
    if refused:
        return _parcel(record_id, refused, 422)
    return redirect(url_for("floor.pick", record_id=record_id), code=303)


@pages.get("/receive")
@login_required
def receive_start():
    code = (request.args.get("code") or "").strip()
    hits = found(code, (PURCHASES,)) if code else []
    if len(hits) == 1:
        return redirect(url_for("floor.receive", record_id=hits[0][1]["id"]), code=303)
    return render_template(
        "floor/receive_start.html",
        screens=screens(),
        code=code,
        searched=bool(code),
        nothing=NOTHING,
    )


def draft_receipt(po_id: int) -> dict | None:
    """The purchase order's goods receipt still being filled, as the user sees it."""
    query = Query(
        conditions=(
            Condition("purchase_order", "eq", po_id),
            Condition("status", "eq", "draft"),
        ),
        sort=("-id",),
        limit=1,
    )
    data = runtime().records.list(g.user, RECEIPTS, query).data
    return data[0] if data else None


def _po(record_id: int, answer: dict | None = None, status: int = 200):
    rt = runtime()
    po = rt.records.get(g.user, PURCHASES, record_id)
    receipt = draft_receipt(record_id)
    now = {line["item"]: line["qty"] for line in (receipt or {}).get("lines", [])}
    titles = rt.records.titles(
        g.user, ITEMS, {line["item"] for line in po["lines"]}, current_language()
    )
    return _answer(
        "receive",
        status,
        po=po,
        entity=rt.records.entity(PURCHASES),
        receipt=receipt,
        now=now,
        titles=titles,
        answer=answer,
    )


@pages.get(f"/receive/{ID}")
@login_required
def receive(record_id: int):
    return _po(record_id)[0]


@pages.post(f"/receive/{ID}/scan")
@login_required
def receive_scan(record_id: int):
    answer = scanned(PURCHASES, record_id)
    return _po(record_id, answer, 200 if answer["ok"] else 422)


@pages.post(f"/receive/{ID}/post")
@login_required
def receive_post(record_id: int):
    receipt = draft_receipt(record_id)
    if receipt is None:
        nothing = Label("Nothing is scanned yet", "尚未扫描任何商品")
        return _po(record_id, {"ok": False, "said": nothing, "code": ""}, 422)
    refused = _step(RECEIPTS, receipt["id"], "post")
    if refused:
        return _po(record_id, refused, 422)
    return redirect(url_for("floor.receive", record_id=record_id), code=303)


@pages.get("/count")
@login_required
def count_start():
    rt = runtime()
    counting = rt.records.list(
        g.user, COUNTS, Query(conditions=(Condition("status", "eq", "draft"),), limit=50)
    )
    titles = rt.records.titles(g.user, COUNTS, {c["id"] for c in counting.data})
    warehouses = rt.records.list(g.user, WAREHOUSES, Query(sort=("code",), limit=200))
    return render_template(
        "floor/count_start.html",
        screens=screens(),
        counting=[(c, titles[c["id"]]) for c in counting.data],
        warehouses=warehouses.data,
    )


@pages.post("/count/new")
@login_required
def count_new():
    try:
        made = runtime().records.create(
            g.user, COUNTS, {"warehouse": request.form.get("warehouse") or None}
        )
    except ValidationFailed:
        return redirect(url_for("floor.count_start"), code=303)
    return redirect(url_for("floor.count", record_id=made["id"]), code=303)


def _count(record_id: int, answer: dict | None = None, status: int = 200):
    rt = runtime()
    sheet = rt.records.get(g.user, COUNTS, record_id)
    return _answer(
        "count",
        status,
        sheet=sheet,
        entity=rt.records.entity(COUNTS),
        title=rt.records.titles(g.user, WAREHOUSES, {sheet["warehouse"]})[sheet["warehouse"]],
        titles=rt.records.titles(g.user, ITEMS, {line["item"] for line in sheet["lines"]}),
        answer=answer,
    )


@pages.get(f"/count/{ID}")
@login_required
def count(record_id: int):
    return _count(record_id)[0]


@pages.post(f"/count/{ID}/scan")
@login_required
def count_scan(record_id: int):
    answer = scanned(COUNTS, record_id)
    return _count(record_id, answer, 200 if answer["ok"] else 422)


@pages.post(f"/count/{ID}/post")
@login_required
def count_post(record_id: int):
    refused = _step(COUNTS, record_id, "post")
    if refused:
        return _count(record_id, refused, 422)
    return redirect(url_for("floor.count", record_id=record_id), code=303)


@hookimpl
def apploom_routes(app):
    app.register_blueprint(pages)

    @app.context_processor
    def floor_links() -> dict:
        """The top bar's link to the floor, and where a scan outside a scan box goes."""
        if g.get("user") is None:
            return {}
        return {
            "nav_links": [(Label("Scan", "扫码"), url_for("floor.index"))],
            "scan_lookup_url": url_for("floor.lookup"),
        }
