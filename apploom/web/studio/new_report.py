"""A new report made on the designer: what it counts or sums, over which entity, grouped
by what, drawn how, and whether the dashboard shows it. It goes into the definition
through the usual preview; its report page then changes the rest while its chart draws."""

from __future__ import annotations

from flask import abort, render_template, request

from apploom.engine.definitions.model import Label
from apploom.engine.errors import ValidationFailed
from apploom.engine.fields.numbers import MoneyType
from apploom.engine.messages import joined, msg
from apploom.engine.reports.definition import CHARTS
from apploom.engine.versions import text_edits
from apploom.web.context import runtime
from apploom.web.i18n import label, translate
from apploom.web.studio.names import new_name
from apploom.web.studio.routes import _app, _live, _preview, bp, designed_preview

COUNT = "*"  # a measure that counts the records instead of summing a field


@bp.get("/<app>/reports/new")
def new_report(app: str):
    """The new report's form, for the entity chosen (the app's first, unless ``entity``
    names another: choosing one reloads the form with its fields)."""
    definition = _app(app)
    entities = [e for e in definition.entities.values() if not e.is_child]
    chosen = definition.entities.get(request.args.get("entity", "")) or (
        entities[0] if entities else abort(404)
    )
    types = runtime().types
    return render_template(
        "studio/new_report.html",
        app=app,
        entities=entities,
        entity=chosen,
        summed=[f for f in chosen.fields.values() if types[f.type].numeric],
        charts=CHARTS,
        form=request.args,
    )


@bp.post("/<app>/reports/new")
def save_new_report(app: str):
    definition, source, form = _app(app), _live(app), request.form
    try:
        name, report = _report(definition, form)
        text = text_edits.add_report(source.text, name, report, bool(form.get("dashboard")))
    except ValidationFailed as exc:
        return _preview(app, source, joined(list(exc.fields.values()))), 422
    said = [translate(msg("New report: {report}", report=label(Label(**report["label"]))))]
    return designed_preview(app, source, text, said)


def _report(definition, form) -> tuple[str, dict]:
    """The report's name (from its English label, made free) and its definition."""
    names = {lang: form.get(f"label_{lang}", "").strip() for lang in ("en", "zh")}
    if not (names["en"] or names["zh"]):
        raise ValidationFailed({"label_zh": msg("Give the report a name")})
    names = {"en": names["en"] or names["zh"], "zh": names["zh"] or names["en"]}
    entity = definition.entities.get(form.get("entity", ""))
    if entity is None or entity.is_child:
        raise ValidationFailed({"entity": msg("Choose what the report is about")})
    of = form.get("of", COUNT)
    if of != COUNT and of not in entity.fields:
        raise ValidationFailed({"of": msg("'{name}' is not a field of it", name=of)})
    measure = (
        {"count": COUNT, "label": {"en": "Count", "zh": "数量"}}
        if of == COUNT
        else {
            "sum": of,
            "label": {"en": entity.fields[of].label.en, "zh": entity.fields[of].label.zh},
        }
    )
    if of != COUNT and isinstance(runtime().types[entity.fields[of].type], MoneyType):
        measure["format"] = "money"
    chart = form.get("chart", "bar")
    if chart not in CHARTS:
        raise ValidationFailed({"chart": msg("'{name}' is not a chart", name=chart)})
    group = form.get("group", "")
    report = {
        "label": names,
        "entity": entity.name,
        **({"rows": [group]} if group else {}),
        "measures": {"value": measure},
        "chart": chart,
    }
    taken = {r.name for r in definition.reports}
    return new_name(names["en"], taken, "report"), report
