"""Headers every answer carries, so a browser runs only our own files on our pages.

The policy allows scripts, styles, fonts and requests from this server only (the
vendored htmx, Chart.js and SortableJS are files in ``static/``; no page has inline
script, event attributes or style attributes), images also as ``data:`` URLs (the
charts' downloads), and no framing by any other page: a same-site page framing an
order would put its Delete button under someone's click.
"""

from __future__ import annotations

from flask import Flask, Response

POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
HEADERS = {
    "Content-Security-Policy": POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # tracking links carry their token in the query
}


def init_app(app: Flask) -> None:
    @app.after_request
    def add_headers(response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response
