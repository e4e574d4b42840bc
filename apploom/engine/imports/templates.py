"""A blank file to fill for an import: one column per field a column can fill, headed by
the field's label in the reader's language (which the import's guess maps back), as an
Excel workbook or a CSV that Excel opens in Chinese too (UTF-8 with a BOM)."""

from __future__ import annotations

import io

from apploom.engine.definitions.model import Entity
from apploom.engine.exports.spreadsheets import write_csv, write_xlsx
from apploom.engine.imports.service import Importer

TEMPLATE_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}
KINDS = tuple(TEMPLATE_TYPES)


def template_header(importer: Importer, entity: Entity, lang: str) -> list[str]:
    """The columns of a template: each target's label in ``lang``, or its path where the
    label would not be guessed back to it (two fields alike). A ref's id column is left
    out where a key (an email, a SKU) finds the record."""
    targets = importer.targets(entity)
    keyed = {path.rsplit(".", 1)[0] for path in targets if "." in path}
    paths = [p for p in targets if p not in keyed]
    labels = [targets[p].get(lang) for p in paths]
    guessed = importer.guess(entity, labels)
    return [
        text if guessed.get(text) == path and labels.count(text) == 1 else path
        for path, text in zip(paths, labels, strict=True)
    ]


def template_file(header: list[str], kind: str, sheet: str) -> bytes:
    """A file of ``kind`` holding only ``header``, as exports write theirs."""
    if kind == "csv":
        text = io.StringIO()
        write_csv(text, [header])
        return text.getvalue().encode("utf-8")
    data = io.BytesIO()
    write_xlsx(data, [(sheet, [header])])
    return data.getvalue()
