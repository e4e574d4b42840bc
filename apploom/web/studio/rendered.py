"""A change's screens, drawn before it is applied: the forms and list headers of the
entities whose fields, form or list the changed definition makes different, as the
new definition would show them, beside the preview's migration plan."""

from __future__ import annotations

from dataclasses import dataclass

from apploom.engine.definitions.loading import Source, load_apps, with_companions
from apploom.engine.definitions.model import AppSet, Entity, Field, Section
from apploom.engine.errors import DefinitionError
from apploom.engine.query.filters import SYSTEM_FIELDS
from apploom.engine.versions import applied
from apploom.web.context import runtime
from apploom.web.records import layout


@dataclass(frozen=True)
class Screen:
    """One entity's form and list header, as a definition shows them."""

    entity: Entity
    sections: tuple[Section, ...]
    children: dict[str, Entity]
    columns: list[Field]
    filters: list[Field]


def screen(entity: Entity, apps: AppSet) -> Screen:
    return Screen(
        entity=entity,
        sections=shown_sections(entity),
        children={f.name: apps.entity(f.child) for f in entity.table_fields()},
        columns=[entity.fields.get(c) or SYSTEM_FIELDS[c] for c in entity.list.columns],
        filters=[entity.fields.get(c) or SYSTEM_FIELDS[c] for c in entity.list.filters],
    )


def shown_sections(entity: Entity) -> tuple[Section, ...]:
    """The sections as the entity's users see them; without a layout, one section
    named after the entity."""
    if entity.form:
        return layout(entity)
    names = list(entity.fields)
    return (Section(entity.label, tuple(tuple(names[i : i + 2]) for i in range(0, len(names), 2))),)


def changed_screens(app: str, source: Source) -> list[Screen]:
    """The screens of ``app`` that ``source`` changes (none if it does not load)."""
    rt = runtime()
    with rt.db.read() as conn:
        live = applied.active_sources(conn)
    try:
        apps = load_apps(with_companions([source], live), rt.types, rt.automation.actions)
    except DefinitionError:
        return []
    new, old = apps.apps.get(app), rt.apps.apps.get(app)
    if new is None:
        return []
    return [
        screen(entity, apps)
        for entity in new.entities.values()
        if not entity.is_child
        and _changed(entity, old.entities.get(entity.name) if old else None, apps, rt.apps)
    ]


def _changed(entity: Entity, before: Entity | None, apps: AppSet, live: AppSet) -> bool:
    """Whether the entity's screens differ: its fields, form or list, or the fields of
    its tables' rows (a field added to the order lines changes the order's form)."""
    if before is None:
        return True
    return (entity.fields, entity.form, entity.list, _row_fields(entity, apps)) != (
        before.fields,
        before.form,
        before.list,
        _row_fields(before, live),
    )


def _row_fields(entity: Entity, apps: AppSet) -> list:
    return [apps.entity(f.child).fields for f in entity.table_fields()]
