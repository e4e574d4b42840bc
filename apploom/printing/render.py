"""An entity's print for chosen records: the template rendered in Jinja2's immutable
sandbox (an admin writes it, so it reads the data it is given and nothing else), then
laid out as A4 or 80 mm receipt pages by WeasyPrint.

Templates resolve from the instance's ``templates/`` folder first, then the bundled
ones, so a business changes its delivery note without touching the package. A batch
is one HTML document, a section a record, so its fonts and styles load once.
"""

from __future__ import annotations

import base64
import mimetypes
import re
from pathlib import Path
from typing import Any, Iterable

import weasyprint
from jinja2 import FileSystemLoader, TemplateError, TemplateNotFound, TemplateSyntaxError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup
from weasyprint.urls import URLFetcher

from apploom.engine import clock, formatting
from apploom.engine.access.permissions import User
from apploom.engine.errors import NotFound, SandboxError
from apploom.engine.prints.definition import Print
from apploom.engine.prints.service import Printed
from apploom.engine.runtime import Runtime
from apploom.engine.settings import Settings
from apploom.printing.codes import barcode_image, qr_image

_PACKAGE = Path(__file__).resolve().parents[1]
PAGE_CSS = {
    "a4": "@page { size: A4; margin: 12mm 12mm 14mm; }",
    "receipt": "@page { size: 80mm 297mm; margin: 4mm 3mm; }",
}
MAX_REPEAT = 100_000  # the longest string or list a template may make with * or **


def bundled_templates() -> Path:
    """``templates/`` of the repository, or its copy inside an installed wheel."""
    packaged = _PACKAGE / "bundled" / "templates"
    return packaged if packaged.is_dir() else _PACKAGE.parent / "templates"


def template_folders(settings: Settings) -> list[Path]:
    return [settings.instance_path / "templates", bundled_templates()]


class PrintSandbox(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox, with ``*`` and ``**`` kept from making a result so big
    that building it would hold the server (``'x' * 10**10``)."""

    intercepted_binops = frozenset({"*", "**"})

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        """Reaching for a private attribute is an error the template's author sees, not
        a blank: Jinja's own sandbox prints nothing for it."""
        raise SecurityError(f"a print template may not read '{attribute}' of a value")

    def call_binop(self, context, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "**" and isinstance(right, int) and abs(right) > 64:
            raise SandboxError(f"a power of {right} is too large to print")
        if operator_name == "*":
            sized = [x for x in (left, right) if isinstance(x, (str, list, tuple))]
            counts = [x for x in (left, right) if isinstance(x, int)]
            if sized and counts and len(sized[0]) * counts[0] > MAX_REPEAT:
                raise SandboxError("a string or list that long is too large to print")
        return super().call_binop(context, operator_name, left, right)


def _bin_order(text: str) -> tuple:
    """A-2 before A-10: digits compare as numbers; rows with no bin come last."""
    parts = re.split(r"(\d+)", text)
    return (text == "", [int(p) if p.isdigit() else p for p in parts])


def walk(rows: Iterable[Printed], warehouse: Printed | None = None) -> list[dict]:
    """Rows grouped by warehouse, then by bin, in the order a picker walks the floor
    (warehouse code, bin, item code). A row without a warehouse of its own is in
    ``warehouse`` (the order's); bins are the items' ``bin``."""
    groups: dict[str, tuple[Any, dict[str, list]]] = {}
    for row in rows:
        where = row.get("warehouse") or warehouse or Printed({}, "")
        item = row.get("item") or {}
        key = str(where.get("code") or where)
        bins = groups.setdefault(key, (where, {}))[1]
        bins.setdefault(str(item.get("bin") or ""), []).append(row)
    return [
        {
            "warehouse": groups[key][0],
            "bins": [
                {
                    "bin": name,
                    "rows": sorted(picks, key=lambda r: str((r.get("item") or {}).get("sku", ""))),
                }
                for name, picks in sorted(groups[key][1].items(), key=lambda b: _bin_order(b[0]))
            ],
        }
        for key in sorted(groups)
    ]


def _logo(settings: Settings) -> Markup:
    path = settings.business_logo_path
    if path is None:
        return Markup("")
    kind = mimetypes.guess_type(path.name)[0] or "image/png"
    uri = f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode()}"
    return Markup('<img class="logo" src="{}" alt="">').format(uri)


class Printer:
    """One runtime's prints: its templates compiled once, rendered for each reader."""

    def __init__(self, runtime: Runtime, folders: list[Path] | None = None):
        self.runtime = runtime
        self.env = PrintSandbox(
            loader=FileSystemLoader(
                [str(f) for f in folders or template_folders(runtime.settings)]
            ),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def html(self, user: User, ref: str, name: str, ids: Iterable[int], lang: str) -> str:
        """The print ``name`` of ``ref`` for the records ``ids`` (those ``user`` may read)."""
        spec = self.runtime.prints.spec(ref, name)
        records = self.runtime.prints.records_of(user, ref, ids, lang)
        return self.render(spec, ref, records, lang)

    def pdf(self, user: User, ref: str, name: str, ids: Iterable[int], lang: str) -> bytes:
        return self.to_pdf(self.html(user, ref, name, ids, lang))

    def source(self, spec: Print) -> str:
        """The text of the template ``spec`` prints with (the instance's, else bundled)."""
        try:
            return self.env.loader.get_source(self.env, spec.path)[0]  # type: ignore[union-attr]
        except TemplateNotFound:
            raise NotFound(f"The print '{spec.name}' needs the template {spec.path}") from None

    def check(self, spec: Print, source: str) -> None:
        """Refuse a template text that does not parse, at its line."""
        try:
            self.env.parse(source)
        except TemplateSyntaxError as exc:
            raise SandboxError(f"{spec.path}, line {exc.lineno}: {exc.message}") from None

    def render(
        self, spec: Print, ref: str, records: list[Printed], lang: str, source: str | None = None
    ) -> str:
        """The print's HTML; with ``source``, of that text instead of the template's file
        (the studio's preview of a template being written)."""
        try:
            template = (
                self.env.get_template(spec.path) if source is None else self.env.from_string(source)
            )
        except TemplateNotFound:
            raise NotFound(f"The print '{spec.name}' needs the template {spec.path}") from None
        except TemplateSyntaxError as exc:
            raise SandboxError(f"{spec.path}, line {exc.lineno}: {exc.message}") from None
        settings = self.runtime.settings
        try:
            return template.render(
                records=records,
                labels=self.runtime.prints.labels(ref, lang),
                lang=lang,
                t=lambda en, zh: zh if lang == "zh" else en,
                title=spec.label.get(lang),
                page=spec.page,
                page_css=Markup(PAGE_CSS[spec.page]),
                business={
                    "name": settings.business_name,
                    "address": settings.business_address,
                    "phone": settings.business_phone,
                    "logo": _logo(settings),
                },
                printed_at=formatting.moment(clock.now(), lang),
                money=lambda amount: formatting.money(amount, lang),
                barcode=barcode_image,
                qr=qr_image,
                walk=walk,
                **self.runtime.prints.helpers,
            )
        except SandboxError:
            raise
        except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError) as exc:
            raise SandboxError(f"{spec.path}: {type(exc).__name__}: {exc}") from None

    @staticmethod
    def to_pdf(html: str) -> bytes:
        # data: URIs only: a template cannot make the server fetch a URL or read a file
        only_inline = URLFetcher(allowed_protocols=("data",), allow_redirects=False)
        document = weasyprint.HTML(string=html, url_fetcher=only_inline)
        return document.write_pdf()
