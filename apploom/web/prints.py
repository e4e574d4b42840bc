"""Printed documents on screen and over the API: a record's print, the selected records
of a list in one PDF, and barcodes on record pages. The engine decides who may read
what; apploom.printing renders."""

from __future__ import annotations

import io
from weakref import WeakKeyDictionary

from flask import Blueprint, Response, g, request, send_file
from markupsafe import Markup

from apploom.engine.fields.base import MAX_INT, parse_int
from apploom.engine.runtime import Runtime
from apploom.printing.codes import barcode_image
from apploom.printing.render import Printer
from apploom.web.context import runtime
from apploom.web.i18n import LANGUAGES, current_language
from apploom.web.session import login_required

bp = Blueprint("prints", __name__)
_printers: WeakKeyDictionary[Runtime, Printer] = WeakKeyDictionary()


def printer() -> Printer:
    """This runtime's printer: its templates compile once, until the apps reload."""
    rt = runtime()
    if rt not in _printers:
        _printers[rt] = Printer(rt)
    return _printers[rt]


def language() -> str:
    """?lang=zh or en, else the reader's language (as their screens, or Accept-Language)."""
    asked = request.args.get("lang")
    return asked if asked in LANGUAGES else current_language()


def pdf_response(ref: str, name: str, ids: list[int], filename: str) -> Response:
    pdf = printer().pdf(g.user, ref, name, ids, language())
    response = send_file(
        io.BytesIO(pdf), mimetype="application/pdf", download_name=filename, as_attachment=False
    )
    response.headers["Cache-Control"] = "private, no-store"  # customers' addresses
    return response


def record_pdf(app: str, entity: str, record_id: int, name: str) -> Response:
    """One record's print ``name`` (the record page's button and the API's route)."""
    ref = f"{app}.{entity}"
    runtime().prints.spec(ref, name)  # an unknown print is 404 before any reading
    return pdf_response(ref, name, [record_id], f"{entity}-{record_id}-{name}.pdf")


@bp.get(f"/a/<app>/<entity>/<int(max={MAX_INT}):record_id>/print/<name>")
@login_required
def record_print(app: str, entity: str, record_id: int, name: str):
    return record_pdf(app, entity, record_id, name)


@bp.get("/a/<app>/<entity>/print/<name>")
@login_required
def batch_print(app: str, entity: str, name: str):
    """The records ticked in a list (``?ids=1&ids=2``) in one PDF, a record after another
    (or many to a page, as a label sheet lays them out)."""
    ref = f"{app}.{entity}"
    runtime().prints.spec(ref, name)
    ids = [i for i in map(parse_int, request.args.getlist("ids")) if i and 0 < i <= MAX_INT]
    return pdf_response(ref, name, ids, f"{entity}-{name}-{len(ids)}.pdf")


@bp.app_template_global()
def barcode(value: object) -> Markup:
    """The Code 128 barcode of a value, for record pages (a barcode field's)."""
    return barcode_image(value, height=10)
