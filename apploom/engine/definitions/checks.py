"""Checks that need more than the JSON Schema: references resolve across apps,
names are allowed, formulas compile, settings fit their field type."""

from __future__ import annotations

import re
from typing import Collection

from apploom.engine.automation.actions import BUILTIN_ACTIONS, action_checks
from apploom.engine.automation.definition import TEMPLATE
from apploom.engine.automation.definition import lint as lint_rules
from apploom.engine.balances.definition import check_problems
from apploom.engine.channels.checks import channel_problems, webhook_channel_problems
from apploom.engine.definitions.model import (
    RESERVED_NAMES,
    SYSTEM_COLUMNS,
    App,
    AppSet,
    Entity,
    Field,
)
from apploom.engine.errors import Problem
from apploom.engine.expressions.compiled import FUNCTIONS, ExpressionError, compile_expression
from apploom.engine.fields.base import COMMON_SETTINGS, Invalid
from apploom.engine.fields.registry import FieldTypes
from apploom.engine.fields.text import pattern_problem
from apploom.engine.messages import Message, message_of, msg
from apploom.engine.records.conditions import CONDITIONS
from apploom.engine.records.formulas import formula_order
from apploom.engine.records.naming import format_problems
from apploom.engine.reports.definition import report_problems
from apploom.engine.workflow.definition import Workflow, lint

TITLE_TOKEN = re.compile(r"\{([a-z0-9_]+)\}")


class _Reporter:
    def __init__(self, app: App):
        self.app = app
        self.problems: list[Problem] = []

    def __call__(self, path: tuple, message: str) -> None:
        self.problems.append(
            Problem(self.app.file, ".".join(map(str, path)), self.app.line(path), message)
        )


def semantic_problems(
    apps: AppSet, types: FieldTypes, actions: Collection[str] = BUILTIN_ACTIONS
) -> tuple[list[Problem], list[Problem]]:
    """(errors, warnings): errors block the definitions, warnings are only told."""
    problems: list[Problem] = []
    warnings: list[Problem] = []
    roles = apps.roles()
    checks = action_checks(actions)
    for app in apps.apps.values():
        report = _Reporter(app)
        warn = _Reporter(app)
        _check_requires(app, apps, report)
        _check_permissions(("permissions",), app.permissions, roles, report)
        for entity in app.entities.values():
            _check_entity(app, entity, apps, types, roles, report)
            if entity.workflow is not None:
                _check_workflow(entity, entity.workflow, roles, set(types.functions), report, warn)
            for balance in entity.balances:
                path = ("entities", entity.name, "balances", balance.name)
                if balance.name in app.entities:
                    report(
                        path,
                        msg(
                            "'{balance}' is also an entity of {app}; give the balance its own name",
                            balance=balance.name,
                            app=app.name,
                        ),
                    )
                for sub, message in check_problems(balance, entity):
                    report(path + sub, message)
            entities = {e.qualified: e for e in apps.entities() if not e.is_child}
            for path, message in lint_rules(
                entity, entity.rules, entities, checks, types, set(types.functions), roles
            ):
                report(("entities", entity.name, "rules") + path, message)
        for found in app.reports:
            for path, message in report_problems(found, app, apps, types):
                report(("reports", found.name) + path, message)
        for path, message in [
            *channel_problems(app, types.pullers),
            *webhook_channel_problems(app, apps),
        ]:
            report(path, message)
        reports = {r.name for r in app.reports}
        for i, tile in enumerate(app.dashboard.tiles if app.dashboard else ()):
            if tile.report not in reports:
                report(
                    ("dashboard", "tiles", i),
                    msg("'{report}' is not a report of {app}", report=tile.report, app=app.name),
                )
        problems.extend(report.problems)
        warnings.extend(warn.problems)
    problems.extend(_requires_cycles(apps))
    return problems, warnings


def _check_workflow(
    entity: Entity,
    workflow: Workflow,
    roles: set[str],
    functions: set[str],
    report: _Reporter,
    warn: _Reporter,
) -> None:
    base = ("entities", entity.name, "workflow")
    declared = entity.fields[workflow.field]
    added = workflow.status_field()
    if declared.type != added.type or declared.option_values != tuple(workflow.states):
        report(
            ("entities", entity.name, "fields", workflow.field),
            msg(
                "'{field}' is the workflow's status field; leave it out of fields and the "
                "workflow adds it",
                field=workflow.field,
            ),
        )
    errors, warnings = lint(workflow, entity.fields, roles, functions)
    for path, message in errors:
        report(base + path, message)
    for path, message in warnings:
        warn(base + path, message)


def _check_requires(app: App, apps: AppSet, report: _Reporter) -> None:
    for i, name in enumerate(app.requires):
        if name == app.name:
            report(("requires", i), msg("an app cannot require itself"))
        elif name not in apps.apps:
            report(("requires", i), msg("requires the app '{app}', which is not loaded", app=name))


def _requires_cycles(apps: AppSet) -> list[Problem]:
    problems = []
    for app in apps.apps.values():
        path = _cycle_from(app.name, apps, [])
        if path and path[0] == app.name and min(path) == app.name:
            problems.append(
                Problem(
                    app.file,
                    "requires",
                    app.line(("requires",)),
                    msg(
                        "apps require each other in a circle: {apps}",
                        apps=" -> ".join(path + [path[0]]),
                    ),
                )
            )
    return problems


def _cycle_from(name: str, apps: AppSet, trail: list[str]) -> list[str] | None:
    if name in trail:
        return trail[trail.index(name) :]
    for required in apps.apps[name].requires if name in apps.apps else ():
        found = _cycle_from(required, apps, trail + [name])
        if found:
            return found
    return None


def _check_permissions(path: tuple, permissions, roles: set[str], report: _Reporter) -> None:
    for role in permissions:
        if role not in roles:
            report(
                path + (role,),
                msg(
                    "the role '{role}' is not declared; add it to 'roles' (known roles: {roles})",
                    role=role,
                    roles=", ".join(sorted(roles)),
                ),
            )


def _check_entity(
    app: App, entity: Entity, apps: AppSet, types: FieldTypes, roles: set[str], report: _Reporter
) -> None:
    base = ("entities", entity.name)
    _check_permissions(base + ("permissions",), entity.permissions, roles, report)
    if entity.naming:
        for message in format_problems(entity.naming):
            report(base + ("naming",), _said_of(entity.naming, message))
    for name, field in entity.fields.items():
        _check_field(app, entity, field, apps, types, report, base + ("fields", name))
        _check_who(entity, field, roles, report, base + ("fields", name))
    _check_formula_cycles(entity, report, base)
    names = set(entity.fields)
    if entity.title:
        for token in TITLE_TOKEN.findall(entity.title):
            if token not in names and token not in SYSTEM_COLUMNS:
                report(
                    base + ("title",),
                    msg(
                        "'{{{token}}}' is not a field of {entity}", token=token, entity=entity.name
                    ),
                )
    for key, listed in (
        ("columns", entity.list.columns),
        ("filters", entity.list.filters),
        ("search", entity.list.search),
    ):
        for name in listed:
            _check_listed(entity, name, base + ("list", key), report)
    for name in entity.list.search:
        searched = entity.fields.get(name)
        if searched and not (types[searched.type].searchable or types[searched.type].is_reference):
            report(
                base + ("list", "search"),
                msg(
                    "'{field}' cannot be searched (it is of type {type}); search works on text "
                    "and refs",
                    field=name,
                    type=searched.type,
                ),
            )
    for name in entity.list.sort:
        _check_listed(entity, name.lstrip("-"), base + ("list", "sort"), report)
    placed: dict[str, int] = {}
    for s, section in enumerate(entity.form):
        for r, row in enumerate(section.rows):
            for name in row:
                path = base + ("form", s, "rows", r)
                if name not in names:
                    report(
                        path,
                        msg(
                            "the form shows '{field}', which is not a field of {entity}",
                            field=name,
                            entity=entity.name,
                        ),
                    )
                elif name in placed:
                    report(path, msg("'{field}' is on the form twice", field=name))
                placed[name] = s
        for setting in CONDITIONS:
            if getattr(section, setting):
                what = msg(
                    "{setting} of the section '{section}'", setting=setting, section=section.label
                )
                source = getattr(section, setting)
                _check_formula(
                    entity, source, apps, types, report, base + ("form", s, setting), what
                )
    if isinstance(entity.deletable, tuple):
        states = entity.workflow.states if entity.workflow else {}
        for state in entity.deletable:
            if state not in states:
                report(
                    base + ("deletable",),
                    msg(
                        "'{state}' is not a state of {entity}'s workflow; its states are: {states}",
                        state=state,
                        entity=entity.name,
                        states=", ".join(states),
                    )
                    if states
                    else msg(
                        "'{state}' is not a state of {entity}'s workflow",
                        state=state,
                        entity=entity.name,
                    ),
                )
    for key in ("indexes", "unique"):
        for i, index in enumerate(getattr(entity, key)):
            for name in index:
                if name not in names and name not in SYSTEM_COLUMNS:
                    report(base + (key, i), _not_a_field(name, entity.name))
    if entity.is_child:
        users = [
            e.qualified
            for e in app.entities.values()
            for f in e.table_fields()
            if f.of == entity.qualified
        ]
        if len(users) > 1:
            report(
                base,
                msg(
                    "{entity} holds the rows of more than one table field ({fields}); give each "
                    "table its own entity",
                    entity=entity.name,
                    fields=", ".join(users),
                ),
            )
        if entity.table_fields():
            report(
                base,
                msg(
                    "{entity} is the rows of a table and cannot have tables itself",
                    entity=entity.name,
                ),
            )
        if entity.prints:
            report(
                base + ("prints",),
                msg(
                    "{entity} is the rows of a table and prints with the record holding them "
                    "({holders}): give the prints to that entity",
                    entity=entity.name,
                    holders=", ".join(users),
                ),
            )


def _check_listed(entity: Entity, name: str, path: tuple, report: _Reporter) -> None:
    if name in entity.fields or name in SYSTEM_COLUMNS:
        if name in entity.fields and entity.fields[name].holds_rows:
            report(
                path,
                msg(
                    "'{field}' is a table of rows and cannot be a list column or filter", field=name
                ),
            )
        return
    report(
        path,
        msg(
            "'{field}' is not a field of {entity}; fields are: {fields}",
            field=name,
            entity=entity.name,
            fields=", ".join(entity.fields),
        ),
    )


def _check_related(
    entity: Entity, field: Field, types: FieldTypes, report: _Reporter, path: tuple
) -> None:
    """The panel's filter, sums and dates name fields of the entity holding the ref."""
    named = {**entity.fields, **{n: None for n in SYSTEM_COLUMNS}}
    spec = field.related
    for name in spec.where:
        if name.split(".")[0] not in named:
            report(path + ("where",), _not_a_field(name, entity.name))
    for key, names, wrong, fits in (
        (
            "sum",
            spec.sums,
            lambda name: msg(
                "'{field}' is not a integer or decimal or money or percent field of {entity}",
                field=name,
                entity=entity.name,
            ),
            lambda t: t.numeric,
        ),
        (
            "latest",
            spec.latest,
            lambda name: msg(
                "'{field}' is not a date or datetime field of {entity}",
                field=name,
                entity=entity.name,
            ),
            lambda t: t.dated,
        ),
    ):
        for name in names:  # system columns (None here) are the created/updated times
            fld = named.get(name)
            if name not in named or (not fits(types[fld.type]) if fld else key == "sum"):
                report(path + (key, name), wrong(name))


def _check_field(
    app: App,
    entity: Entity,
    field: Field,
    apps: AppSet,
    types: FieldTypes,
    report: _Reporter,
    path: tuple,
) -> None:
    if field.name in RESERVED_NAMES:
        report(path, msg("'{field}' is kept for the system; choose another name", field=field.name))
    if field.type not in types:
        return  # the schema already reported the unknown type
    ftype = types[field.type]
    for setting in sorted(field.settings - COMMON_SETTINGS - ftype.settings):
        report(path + (setting,), _does_not_apply(setting, field.type))
    for setting, message in ftype.definition_problems(field):
        report(path + (setting,), message)
    for setting in ("unique", "index"):
        if getattr(field, setting) and not ftype.indexable:
            report(path + (setting,), _does_not_apply(setting, field.type))
    if field.unique and entity.is_child:
        report(
            path + ("unique",),
            _not_for_rows(entity.name, "unique"),
        )
    _check_related(entity, field, types, report, path + ("related",))
    values = field.option_values
    for value in {v for v in values if values.count(v) > 1}:
        report(
            path + ("options",), msg("the option '{value}' is listed more than once", value=value)
        )
    problem = pattern_problem(field.pattern) if field.pattern else None
    if problem:
        report(path + ("pattern",), problem)
    _check_bounds(field, ftype, report, path)
    _check_default(field, ftype, report, path)
    if ftype.is_reference and field.to:
        _check_ref(app, field, apps, report, path)
    if field.holds_rows:
        child = apps.find(field.child)
        if child is None or child.app != app.name:
            report(
                path + ("of",),
                msg(
                    "'{entity}' is not an entity of {app}; rows must be an entity of the same app",
                    entity=field.child.split(".")[-1],
                    app=app.name,
                ),
            )
    for name in field.locks:
        if name not in entity.fields:
            report(path + ("locks",), _not_a_field(name, entity.name))
    if field.default_from:
        _check_default_from(entity, field, apps, types, report, path)
    if field.formula:
        _check_formula(entity, field.formula, apps, types, report, path + ("formula",))
    if field.fill:
        _check_formula(entity, field.fill, apps, types, report, path + ("fill",))
    for setting in CONDITIONS:
        if getattr(field, setting):
            what = msg("{setting} of '{field}'", setting=setting, field=field.name)
            _check_formula(
                entity, getattr(field, setting), apps, types, report, path + (setting,), what
            )


def _check_who(entity: Entity, field: Field, roles: set[str], report: _Reporter, path) -> None:
    """``editable_by`` names declared roles; ``notify`` fills in fields of the record. Both
    are about the record's own fields, not a table's rows."""
    for setting in ("editable_by", "notify"):
        if entity.is_child and getattr(field, setting):
            report(
                path + (setting,),
                _not_for_rows(entity.name, setting),
            )
    for role in field.editable_by:
        if role not in roles:
            report(
                path + ("editable_by",),
                msg(
                    "'{role}' is not a role; known roles: {roles}",
                    role=role,
                    roles=", ".join(sorted(roles)),
                ),
            )
    notify = field.notify or ""
    wordings = [notify] if isinstance(notify, str) else list(notify.values())
    for name, _ in {found for words in wordings for found in TEMPLATE.findall(words)}:
        if name not in entity.fields and name != "id":
            report(
                path + ("notify",),
                msg("'{{{token}}}' is not a field of {entity}", token=name, entity=entity.name),
            )


def _check_default_from(entity, field: Field, apps, types, report: _Reporter, path) -> None:
    """``ref.field``: a ref of the same record or row, and a plain field of its target."""
    head, _, tail = (field.default_from or "").partition(".")
    ref = entity.fields.get(head)
    if ref is None or not types[ref.type].is_reference or not ref.to:
        report(
            path + ("default_from",),
            msg("'{field}' is not a ref field of {entity}", field=head, entity=entity.name),
        )
        return
    target = apps.find(ref.target)
    source = target.fields.get(tail) if target is not None else None
    if source is None or source.holds_rows:
        report(path + ("default_from",), _not_a_field(tail, ref.target))


def _check_bounds(field: Field, ftype, report: _Reporter, path: tuple) -> None:
    bounds = {}
    for setting in ("min", "max"):
        raw = getattr(field, setting)
        if raw is None:
            continue
        try:
            bounds[setting] = ftype.coerce(field, raw)
        except (Invalid, TypeError):
            report(
                path + (setting,),
                msg("'{value}' is not a valid {type} value", value=raw, type=field.type),
            )
    if len(bounds) == 2 and bounds["min"] > bounds["max"]:
        report(path, msg("min ({min}) is greater than max ({max})", min=field.min, max=field.max))
    if field.holds_rows and field.min_rows > field.row_limit:
        report(
            path + ("min_rows",),
            msg(
                "min_rows ({min_rows}) is greater than the most rows the table may hold ({most})",
                min_rows=field.min_rows,
                most=field.row_limit,
            ),
        )


def _check_default(field: Field, ftype, report: _Reporter, path: tuple) -> None:
    if field.default is None or field.holds_rows or ftype.numbered:
        return
    if field.default in ftype.dynamic_defaults:
        return
    try:
        ftype.check(field, ftype.coerce(field, field.default))
    except Invalid as exc:
        report(
            path + ("default",),
            msg("the default '{value}' {problem}", value=field.default, problem=message_of(exc)),
        )


def _check_ref(app: App, field: Field, apps: AppSet, report: _Reporter, path: tuple) -> None:
    target = apps.find(field.target)
    target_app = field.target.split(".")[0]
    if target is None:
        known = ", ".join(e.qualified for e in apps.entities() if not e.is_child)
        report(
            path + ("to",),
            msg(
                "'{entity}' is not an entity; known entities: {known}", entity=field.to, known=known
            ),
        )
    elif target_app != app.name and target_app not in app.requires:
        report(
            path + ("to",),
            msg(
                "refers to {entity}, so '{app}' must be listed under requires",
                entity=field.to,
                app=target_app,
            ),
        )
    elif target.is_child:
        report(
            path + ("to",),
            msg(
                "{entity} holds the rows of {parent}; refer to {parent} instead",
                entity=field.to,
                parent=target.parent,
            ),
        )


def _check_formula(
    entity: Entity,
    source: str,
    apps: AppSet,
    types: FieldTypes,
    report: _Reporter,
    path: tuple,
    what: Message | None = None,
) -> None:
    """A formula (or a fill or a condition, ``what`` at ``path``): it compiles and reads
    fields the entity has."""
    what = what or msg("the formula")
    try:
        expression = compile_expression(source)
    except ExpressionError as exc:
        report(path, msg("{what} {problem}", what=what, problem=message_of(exc)))
        return
    for name in sorted(expression.names - set(FUNCTIONS) - set(types.functions)):
        if name not in entity.fields:
            report(
                path,
                msg(
                    "{what} uses '{field}', which is not a field of {entity}",
                    what=what,
                    field=name,
                    entity=entity.name,
                ),
            )
    # a table without 'of' is reported by its field type
    children = [apps.find(f.of) for f in entity.table_fields() if f.of]
    row_fields = {n for child in children if child is not None for n in child.fields}
    for name in sorted(expression.attributes - row_fields):
        report(
            path,
            msg(
                "{what} reads '.{field}', which no table row of {entity} has",
                what=what,
                field=name,
                entity=entity.name,
            ),
        )


def _not_a_field(name: str, entity: str) -> Message:
    return msg("'{field}' is not a field of {entity}", field=name, entity=entity)


def _does_not_apply(setting: str, type_name: str) -> Message:
    return msg("'{setting}' does not apply to a {type} field", setting=setting, type=type_name)


def _not_for_rows(entity: str, setting: str) -> Message:
    return msg(
        "{entity} holds the rows of a table; '{setting}' does not apply to row fields",
        entity=entity,
        setting=setting,
    )


def _said_of(value: str, problem: str) -> Message:
    """A setting's value and what is wrong with it: "'SO-{YYYY}' needs a counter"."""
    return msg("'{value}' {problem}", value=value, problem=problem)


def _check_formula_cycles(entity: Entity, report: _Reporter, base: tuple) -> None:
    for name in formula_order(entity)[1]:
        report(
            base + ("fields", name, "formula"),
            msg("the formula of '{field}' depends on itself through other formulas", field=name),
        )
