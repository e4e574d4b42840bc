"""Formula fields: computed on save, in dependency order, and stored."""

from __future__ import annotations

from typing import Any

from apploom.engine.definitions.model import Entity, Field
from apploom.engine.expressions.compiled import ExpressionError, Row, compile_expression
from apploom.engine.fields.base import Invalid
from apploom.engine.fields.registry import FieldTypes
from apploom.engine.messages import message_of


def formula_order(entity: Entity) -> tuple[list[Field], list[str]]:
    """Formula fields ordered so each comes after the formulas it reads, and the
    names of any that depend on themselves."""
    formulas = {f.name: f for f in entity.fields.values() if f.formula}
    needs = {}
    for name, field in formulas.items():
        try:
            needs[name] = set(compile_expression(field.formula).names) & set(formulas)
        except ExpressionError:
            needs[name] = set()
    ordered: list[Field] = []
    done: set[str] = set()
    while len(done) < len(formulas):
        ready = [n for n in formulas if n not in done and needs[n] <= done]
        if not ready:
            return ordered, sorted(set(formulas) - done)
        for name in ready:
            ordered.append(formulas[name])
            done.add(name)
    return ordered, []


def compute_formulas(
    entity: Entity,
    ordered: list[Field],
    values: dict[str, Any],
    types: FieldTypes,
    rows: dict[str, list[dict]] | None = None,
) -> dict[str, str]:
    """Fill the formula fields of ``values`` in place, in the ``ordered`` sequence that
    :func:`formula_order` gives; returns per-field errors."""
    names = {**types.functions, **{name: values.get(name) for name in entity.fields}}
    for name, table_rows in (rows or {}).items():
        names[name] = [Row(r) for r in table_rows]
    errors = {}
    for field in ordered:
        try:
            value = _as_type(field, compile_expression(field.formula).evaluate(names), types)
        except OutOfRange as exc:
            errors[field.name] = message_of(exc)  # a total below its min: told as such
            value = None
        except (ExpressionError, Invalid, ArithmeticError, ValueError) as exc:
            # An empty input leaves the result empty; any other failure is told.
            if "NoneType" not in str(exc):
                errors[field.name] = f"could not be computed: {exc}"
            value = None
        values[field.name] = names[field.name] = value
    return errors


class OutOfRange(Invalid):
    """A formula's result outside the min or max its field declares."""


def _as_type(field: Field, result: Any, types: FieldTypes) -> Any:
    if result is None:
        return None
    ftype = types[field.type]
    value = ftype.from_formula(field, result)
    try:
        ftype.check(field, value)
    except Invalid as exc:
        raise OutOfRange(exc.message) from None
    return value
