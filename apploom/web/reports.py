"""Reports on screen: a report's page (filters, chart, table with totals, drill-down to
the records behind a cell, CSV and Excel), the app home's dashboard and its links to the
other reports, and the JSON the API and the charts read. The engine computes; this
module lays it out."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from flask import Blueprint, g, render_template, request, url_for

from apploom.engine import clock, formatting
from apploom.engine.access import permissions
from apploom.engine.errors import BadQuery, Forbidden
from apploom.engine.fields.base import parse_int
from apploom.engine.messages import msg
from apploom.engine.reports.definition import Report
from apploom.engine.reports.service import RANGES, Result, date_range, drill_params
from apploom.web.context import runtime
from apploom.web.export import send_table
from apploom.web.i18n import current_language, label
from apploom.web.session import login_required

bp = Blueprint("reports", __name__)
RANGE_NAMES = {
    "last_30_days": msg("Last 30 days"),
    "last_12_months": msg("Last 12 months"),
    "this_year": msg("This year"),
    "all": msg("All time"),
}


def viewer_params(report: Report) -> dict[str, str]:
    """The filters the viewer set, from the page's address."""
    return {
        k: v
        for k, v in request.args.items()
        if v and (k in ("from", "to") or k.split("__")[0] in report.filters)
    }


@bp.get("/a/<app>/reports/<name>")
@login_required
def page(app: str, name: str):
    report = runtime().reports.find(app, name)
    params = viewer_params(report)
    result = runtime().reports.run(g.user, report, params, current_language())
    return render_template(
        "reports/report.html",
        report=report,
        result=result,
        params=params,
        table=table(result, params),
        chart=chart(result, params),
        choices=filter_choices(report),
        full=True,
    )


@bp.get("/a/<app>/reports/<name>.<fmt>")
@login_required
def download(app: str, name: str, fmt: str):
    report = runtime().reports.find(app, name)
    result = runtime().reports.run(g.user, report, viewer_params(report), current_language())
    grid = table(result, {}, periods_named=False)  # a spreadsheet keeps 2026-03, sortable
    rows = [grid["header"]] + [
        [c["text"] if c["number"] is None else c["number"] for c in row["cells"]]
        for row in grid["rows"]
    ]
    return send_table(f"{app}-{name}", rows, fmt)


@bp.get("/a/<app>/<entity>/flow")
@login_required
def flow(app: str, entity: str):
    """How records move through a workflow: where they are, how long they stay, how
    many finish per period, which wait too long."""
    rt = runtime()
    found = rt.records.entity(f"{app}.{entity}")
    options = flow_options(request.args)
    analysis = rt.flow.analyse(g.user, found.qualified, **options)
    periods = sorted({row["period"] for row in analysis["throughput"]})
    states = found.workflow.states.values() if found.workflow else ()  # analyse needs one
    finals = [s for s in states if s.final]
    done = {(row["period"], row["state"]): row["records"] for row in analysis["throughput"]}
    chart_data = {
        "type": "line",
        "labels": [formatting.period(p, options["period"], current_language()) for p in periods],
        "series": [
            {"label": label(s.label), "data": [done.get((p, s.name), 0) for p in periods]}
            for s in finals
        ],
        "figures": figures(),
    }
    titles = rt.records.titles(
        g.user, found.qualified, {r["id"] for r in analysis["stuck"]}, current_language()
    )
    return render_template(
        "reports/flow.html",
        entity=found,
        analysis=analysis,
        chart=chart_data,
        titles=titles,
        options=options,
    )


MAX_STUCK_HOURS = 24 * 366 * 100  # a century: beyond it the date it names does not exist


def flow_options(args) -> dict:
    """The analysis's period and waiting threshold, as the page and the API take them."""
    raw = args.get("stuck_hours")
    hours = 48 if raw is None else parse_int(raw)
    if hours is None or not 0 <= hours <= MAX_STUCK_HOURS:
        raise BadQuery(
            f"'stuck_hours' must be a whole number of hours from 0 to {MAX_STUCK_HOURS}",
            {"stuck_hours": f"must be a whole number from 0 to {MAX_STUCK_HOURS}"},
        )
    return {"period": args.get("period") or "month", "stuck_after": timedelta(hours=hours)}


def listed(app) -> list[Report]:
    """The app's reports that are not on its dashboard, for its home to link to: those
    whose records the user may read (a balance's: every ledger record)."""
    rt = runtime()
    on_dashboard = {t.report for t in app.dashboard.tiles} if app.dashboard else set()
    found = []
    for report in app.reports:
        if report.name in on_dashboard:
            continue
        wanted: tuple[str, ...]
        if report.entity is not None:
            entity, wanted = rt.apps.entity(report.entity), ("all", "own")
        else:
            balance = rt.balances.get(str(report.balance), report.app)
            entity, wanted = rt.apps.entity(balance.ledger), ("all",)
        if permissions.scope(rt.apps, g.user, entity, "read") in wanted:
            found.append(report)
    return found


def dashboard(app) -> list[dict]:
    """The app's dashboard tiles, each report run with the shared date range."""
    if app.dashboard is None or not app.dashboard.tiles:
        return []
    preset = request.args.get("range") or app.dashboard.date_range
    params = date_range(preset if preset in RANGES else "all", clock.today())
    tiles = []
    for tile in app.dashboard.tiles:
        report = runtime().reports.find(app.name, tile.report)
        try:
            result = runtime().reports.run(g.user, report, params, current_language())
        except Forbidden:  # a report over records this user may not read
            continue
        tiles.append(
            {
                "tile": tile,
                "report": report,
                "result": result,
                "table": table(result, params),
                "chart": chart(result, params),
                "params": params,
            }
        )
    return tiles


def table(result: Result, params: dict, periods_named: bool = True) -> dict:
    """The report as a grid: header, rows of cells (text, number, drill-down link),
    and the totals row; date buckets name their periods unless ``periods_named`` is
    false (a download keeps their keys)."""
    report = result.report
    measures = report.measures
    header = [label(g.label) for g in result.groups[: len(report.rows)]]
    if result.columns:
        header += [
            f"{text} · {label(m.label)}" if len(measures) > 1 else text
            for text in (column_texts(result) if periods_named else result.column_labels)
            for m in measures
        ]
    else:
        header += [label(m.label) for m in measures]
    rows = []
    for row in result.rows:
        texts = row_texts(result, row) if periods_named else row["labels"]
        cells = [{"text": text, "number": None, "link": None} for text in texts]
        if result.columns:
            for i, keys in enumerate(result.columns):
                values = row["cells"].get(i, {})
                for m in measures:
                    cells.append(
                        _cell(m, values.get(m.name), result, row["keys"] + list(keys), params)
                    )
        else:
            for m in measures:
                cells.append(_cell(m, row["values"].get(m.name), result, row["keys"], params))
        rows.append({"cells": cells})
    totals = None
    if result.groups:
        totals = [""] * len(report.rows) + (
            [_column_total(m, result, i) for i in range(len(result.columns)) for m in measures]
            if result.columns
            else [_format(m, result.totals.get(m.name)) for m in measures]
        )
    return {"header": header, "rows": rows, "totals": totals}


def _column_total(measure, result: Result, column: int) -> str:
    """A pivot column's total, where adding the cells gives it (sums and counts)."""
    if measure.kind not in ("sum", "count"):
        return ""
    values = [row["cells"].get(column, {}).get(measure.name) for row in result.rows]
    return _format(measure, sum(v for v in values if v is not None))


def chart(result: Result, params: dict) -> dict:
    """What Chart.js draws: labels along the first row group, one series per pivot
    column (or per measure), and for each point the list of the records behind it."""
    report = result.report
    labels = [" · ".join(row_texts(result, row)) for row in result.rows]
    first = report.measures[0]
    if result.columns:
        series = [
            {
                "label": text,
                "data": [_number(row["cells"].get(i, {}).get(first.name)) for row in result.rows],
                "links": [_link(result, row["keys"] + list(keys), params) for row in result.rows],
            }
            for i, (keys, text) in enumerate(zip(result.columns, column_texts(result), strict=True))
        ]
    else:  # the measures alike to the first (a count beside money would flatten it)
        alike = [
            m
            for m in report.measures
            if m.format == first.format and (m.source is None) == (first.source is None)
        ]
        links = [_link(result, row["keys"], params) for row in result.rows]
        series = [
            {
                "label": label(m.label),
                "links": links,
                "data": [_number(row["values"].get(m.name)) for row in result.rows],
            }
            for m in alike
        ]
    return {"type": report.chart, "labels": labels, "series": series, "figures": figures(first)}


def row_texts(result: Result, row: dict) -> list[str]:
    """A row's group labels as the screen reads them: a date bucket names its period (the
    engine names options and records in the reader's language itself)."""
    return _texts(result.groups[: len(row["keys"])], row["keys"], row["labels"])


def column_texts(result: Result) -> list[str]:
    """The pivot columns' labels, periods named as the rows' are."""
    columns_by = result.groups[len(result.report.rows) :]
    if not any(g.bucket for g in columns_by):
        return result.column_labels
    return [
        " · ".join(_texts(columns_by, list(keys), list(parts)))
        for keys, parts in zip(result.columns, result.column_parts, strict=True)
    ]


def _texts(groups: list, keys: list, labels: list[str]) -> list[str]:
    lang = current_language()
    return [
        formatting.period(str(key), group.bucket, lang)
        if key is not None and group.bucket
        else text
        for group, key, text in zip(groups, keys, labels, strict=True)
    ]


def figures(measure=None) -> dict:
    """How a chart's axis and tooltips write its figures (Intl.NumberFormat's locale and
    options), as the table beside it does."""
    where = formatting.locale(current_language()).replace("_", "-")
    if measure is not None and measure.format == "money":
        return {"locale": where, "style": "currency", "currency": formatting.currency()}
    if measure is not None and measure.format == "percent":
        return {"locale": where, "style": "percent", "maximumFractionDigits": 1}
    return {"locale": where}


def filter_choices(report: Report) -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """The options of a report's select filters, for the filter bar: {path: (label,
    [(value, label)])}."""
    rt = runtime()
    found = {}
    entity = rt.apps.entity(report.entity) if report.entity else None
    for path in report.filters:
        fld = entity.fields.get(path) if entity else None
        if fld is not None and fld.options:
            found[path] = (label(fld.label), [(o.value, label(o.label)) for o in fld.options])
    return found


@bp.app_template_global()
def headline(report: Report):
    """The figure a number card shows large: its ratio if it has one, else the first."""
    return next((m for m in report.measures if m.kind == "ratio"), report.measures[0])


@bp.app_template_global("measure_text")
def _format_global(measure, value) -> str:
    return _format(measure, value)


def _cell(measure, value, result: Result, keys: list, params: dict) -> dict:
    return {
        "text": _format(measure, value),
        "number": value,
        "link": None if value is None else _link(result, keys, params),
    }


def _format(measure, value) -> str:
    if value is None:
        return "—"
    lang = current_language()
    if measure.format == "percent":  # a ratio, to a tenth of a point
        return formatting.percent(round(Decimal(value) * 100, 1), lang)
    if measure.format == "money":
        return formatting.money(round(Decimal(value), 2), lang)
    if isinstance(value, float):  # an average
        return formatting.number(round(Decimal(value), 2), lang)
    return formatting.number(value, lang)


def _number(value):
    return None if value is None else float(value)


def _link(result: Result, keys: list, params: dict) -> str | None:
    found = drill_params(result, keys, params)
    if found is None or result.report.entity is None:  # only an entity's rows drill down
        return None
    app, _, entity = result.report.entity.partition(".")
    return url_for("lists.entity_list", app=app, entity=entity, **found)
