"""Conditional fields: ``visible_if``, ``required_if`` and ``readonly_if`` on a field or on
the form section holding it, evaluated on the record as it will be after the change.

One language for the form and the service: the expression language of formulas, run in
the sandbox by the server; the form asks the server for the fields' states as the user
types (the record service's preview) instead of evaluating a second language in the
browser. What each state means to the record service:

* hidden (``visible_if`` does not hold): never required; a value sent for it is kept;
* required (``required``, or ``required_if`` holding, and shown): a record missing it is
  refused like any required field;
* read-only (``readonly_if`` holding): people cannot change it (the app's rules and the
  engine still may, as for ``readonly`` fields).

A condition that cannot be evaluated (it compares an empty value) does not hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from apploom.engine.definitions.model import Entity
from apploom.engine.expressions.compiled import (
    Expression,
    ExpressionError,
    Row,
    compile_expression,
)

CONDITIONS = ("visible_if", "required_if", "readonly_if")


@dataclass(frozen=True)
class FieldState:
    visible: bool = True
    required: bool = False
    readonly: bool = False

    def as_dict(self) -> dict[str, bool]:
        return {"visible": self.visible, "required": self.required, "readonly": self.readonly}


@dataclass(frozen=True)
class FieldConditions:
    """A field's conditions with its section's: all of ``visible`` must hold for it to show,
    any of ``required`` or ``readonly`` holding makes it so."""

    visible: tuple[Expression, ...] = ()
    required: tuple[Expression, ...] = ()
    readonly: tuple[Expression, ...] = ()


def field_conditions(entity: Entity) -> Mapping[str, FieldConditions]:
    """The fields of ``entity`` under a condition (most entities have none)."""
    section_of = {name: section for section in entity.form for name in section.fields}
    found = {}
    for fld in entity.fields.values():
        holders = (fld, section_of[fld.name]) if fld.name in section_of else (fld,)
        conditions = FieldConditions(*(_compiled(holders, setting) for setting in CONDITIONS))
        if conditions != FieldConditions():
            found[fld.name] = conditions
    return found


def _compiled(holders: tuple[Any, ...], setting: str) -> tuple[Expression, ...]:
    return tuple(compile_expression(h_source) for h in holders if (h_source := getattr(h, setting)))


def field_states(
    entity: Entity,
    conditions: Mapping[str, FieldConditions],
    values: Mapping[str, Any],
    rows: Mapping[str, list[dict]],
    functions: Mapping[str, Callable],
) -> dict[str, FieldState]:
    """The state of each conditioned field of a record (or row) holding ``values``."""
    if not conditions:
        return {}
    names: dict[str, Any] = {
        **functions,
        **{name: values.get(name) for name in entity.fields},
        **{name: [Row(r) for r in table] for name, table in rows.items()},
    }
    found: dict[str, bool] = {}  # a section's condition is evaluated once for its fields

    def holds(expression: Expression) -> bool:
        if expression.source not in found:
            try:
                found[expression.source] = bool(expression.evaluate(names))
            except ExpressionError:
                found[expression.source] = False
        return found[expression.source]

    states = {}
    for name, condition in conditions.items():
        visible = all(holds(e) for e in condition.visible)
        required = visible and (
            entity.fields[name].required or any(holds(e) for e in condition.required)
        )
        states[name] = FieldState(visible, required, any(holds(e) for e in condition.readonly))
    return states
