"""A report's chart, drawn from the real data while the admin changes the report in the
studio: the form as it stands read into a report, checked as the definition would be,
and run by the engine with the admin's rights; the report pages' chart and table draw
it. Nothing is saved: saving goes through the usual preview."""

from __future__ import annotations

from flask import g, render_template, request

from apploom.engine.errors import AppLoomError, ValidationFailed
from apploom.engine.messages import message_of, msg
from apploom.engine.reports.definition import BUCKETS, parse_reports, report_problems
from apploom.web.context import runtime
from apploom.web.i18n import current_language, label, translate
from apploom.web.reports import chart, table
from apploom.web.studio import forms
from apploom.web.studio.routes import _app, _live, _report_at, bp

# what a report may be grouped by: fields that hold a few values, not amounts
GROUPED = ("select", "multiselect", "boolean", "ref", "user", "date", "datetime")
BUCKET_NAMES = {
    "day": msg("%s · by day"),
    "week": msg("%s · by week"),
    "month": msg("%s · by month"),
    "quarter": msg("%s · by quarter"),
    "year": msg("%s · by year"),
}


@bp.post("/<app>/reports/<name>/chart")
def report_chart(app: str, name: str):
    """The report as its form now says, run on the data and drawn (htmx)."""
    definition = _app(app)
    rt = runtime()
    try:
        spec = forms.changed_report(request.form, _report_at(_live(app).text, name))
        [report] = parse_reports(app, {name: spec})
        problems = report_problems(report, definition, rt.apps, rt.types)
        if problems:
            return _said("; ".join(translate(message) for _, message in problems))
        result = rt.reports.run(g.user, report, {}, current_language())
    except (ValidationFailed, AppLoomError) as exc:
        said = exc.fields.values() if isinstance(exc, ValidationFailed) else [message_of(exc)]
        return _said("; ".join(translate(m) for m in said))
    return render_template(
        "studio/_report_chart.html",
        report=report,
        result=result,
        table=table(result, {}),
        chart=chart(result, {}),
        full=False,
    )


def _said(problem) -> str:
    return render_template("studio/_report_chart.html", problem=str(problem))


@bp.app_template_global()
def report_groups(app: str, entity: str | None) -> list[tuple[str, str]]:
    """(path, what the admin reads) for each way a report over ``entity`` may group its
    rows: a field that holds a few values, or a date field by day, week, month, quarter
    or year. None for a balance's report (its keys are typed)."""
    if not entity:
        return []
    rt = runtime()
    found = rt.apps.entity(entity if "." in entity else f"{app}.{entity}")
    choices = []
    for field in found.fields.values():
        kind = rt.types[field.type]
        if kind.name not in GROUPED:
            continue
        if kind.name in ("date", "datetime"):
            choices += [
                (f"{field.name}.{b}", translate(BUCKET_NAMES[b]) % label(field.label))
                for b in BUCKETS
            ]
        else:
            choices.append((field.name, label(field.label)))
    return choices
