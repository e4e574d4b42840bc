"""Barcodes (Code 128 from python-barcode, drawn as SVG) and QR codes (segno, as PNG),
as images inside the page, so a printout carries them without files or requests."""

from __future__ import annotations

import base64
import io
import re

import barcode
import segno
from markupsafe import Markup, escape

MAX_CODE = 80  # characters a Code 128 holds before it is too wide to scan from a page
MAX_QR = 1000


def code128_svg(value: str, height_mm: float = 12.0, text: bool = True) -> bytes:
    """The Code 128 barcode of ``value``: bars of 0.3 mm modules with a quiet zone of ten
    either side, as one SVG path (WeasyPrint draws one path far faster than a rectangle
    a bar), its text below when asked."""
    modules = barcode.get("code128", value).build()[0]
    module, quiet = 0.3, 10
    bars = []
    for run in re.finditer(r"1+", modules):
        bars.append(f"M{(quiet + run.start()) * module:.2f} 0h{len(run[0]) * module:.2f}")
        bars.append(f"v{height_mm:.2f}h-{len(run[0]) * module:.2f}z")
    width = (len(modules) + 2 * quiet) * module
    height = height_mm + (4.0 if text else 0.0)
    label = (
        f'<text x="{width / 2:.2f}" y="{height - 0.6:.2f}" font-size="3" text-anchor="middle" '
        f'font-family="monospace">{escape(value)}</text>'
        if text
        else ""
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.2f}mm" height="{height:.2f}mm" '
        f'viewBox="0 0 {width:.2f} {height:.2f}"><rect width="100%" height="100%" fill="#fff"/>'
        f'<path fill="#000" d="{"".join(bars)}"/>{label}</svg>'
    ).encode()


def qr_png(value: str) -> bytes:
    """A QR code as PNG, eight pixels a module: a raster WeasyPrint embeds as it is,
    where an SVG of hundreds of modules is slow to draw on every page."""
    out = io.BytesIO()
    segno.make_qr(value, error="m").save(out, kind="png", scale=8, border=2)
    return out.getvalue()


def _image(data: bytes, media: str, kind: str, alt: str, css: str = "") -> Markup:
    """An <img> of ``data``; a style only when ``css`` is given, since record pages show
    barcodes too and their Content-Security-Policy refuses inline styles, empty ones too."""
    uri = f"data:{media};base64," + base64.b64encode(data).decode()
    style = Markup(' style="{}"').format(css) if css else Markup("")
    return Markup('<img class="{}" src="{}" alt="{}"{}>').format(kind, uri, alt, style)


def barcode_image(value: object, height: float = 12, text: bool = True) -> Markup:
    """A template's ``barcode(code)``: an <img> of its Code 128 barcode; nothing for no code."""
    code = str(value or "").strip()
    if not code:
        return Markup("")
    if len(code) > MAX_CODE or not code.isascii() or not code.isprintable():
        return Markup('<span class="barcode-refused">{}</span>').format(escape(code))
    svg = code128_svg(code, float(height), bool(text))
    return _image(svg, "image/svg+xml", "barcode", code)


def qr_image(value: object, size: float = 28) -> Markup:
    """A template's ``qr(text)``: an <img> of its QR code, ``size`` mm wide."""
    data = str(value or "")
    if not data or len(data) > MAX_QR:
        return Markup("")
    css = f"width:{float(size)}mm;height:{float(size)}mm"
    return _image(qr_png(data), "image/png", "qr", data, css)
