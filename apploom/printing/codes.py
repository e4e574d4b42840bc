"""Barcodes (Code 128, python-barcode) and QR codes (segno) as SVG images inside the
page, so a printout carries them without files or requests."""

from __future__ import annotations

import base64
import io

import barcode
import segno
from barcode.writer import SVGWriter
from markupsafe import Markup, escape

MAX_CODE = 80  # characters a Code 128 holds before it is too wide to scan from a page
MAX_QR = 1000


def code128_svg(value: str, height_mm: float = 12.0, text: bool = True) -> bytes:
    """The Code 128 barcode of ``value`` (bars 0.3 mm wide), its text below when asked."""
    out = io.BytesIO()
    barcode.get("code128", value, writer=SVGWriter()).write(
        out,
        options={
            "module_width": 0.3,
            "module_height": height_mm,
            "quiet_zone": 3,
            "write_text": text,
            "font_size": 8,
            "text_distance": 3,
        },
    )
    return out.getvalue()


def qr_svg(value: str) -> bytes:
    out = io.BytesIO()
    segno.make_qr(value, error="m").save(out, kind="svg", scale=4, border=2)
    return out.getvalue()


def _image(svg: bytes, kind: str, alt: str, css: str) -> Markup:
    uri = "data:image/svg+xml;base64," + base64.b64encode(svg).decode()
    return Markup('<img class="{}" src="{}" alt="{}" style="{}">').format(kind, uri, alt, css)


def barcode_image(value: object, height: float = 12, text: bool = True) -> Markup:
    """A template's ``barcode(code)``: an <img> of its Code 128 barcode; nothing for no code."""
    code = str(value or "").strip()
    if not code:
        return Markup("")
    if len(code) > MAX_CODE or not code.isascii() or not code.isprintable():
        return Markup('<span class="barcode-refused">{}</span>').format(escape(code))
    return _image(code128_svg(code, float(height), bool(text)), "barcode", code, "")


def qr_image(value: object, size: float = 28) -> Markup:
    """A template's ``qr(text)``: an <img> of its QR code, ``size`` mm wide."""
    data = str(value or "")
    if not data or len(data) > MAX_QR:
        return Markup("")
    return _image(qr_svg(data), "qr", data, f"width:{float(size)}mm;height:{float(size)}mm")
