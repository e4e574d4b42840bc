"""Rule expressions read fields of the record a ref points at: ``customer.city == '杭州'``.

While such an expression runs, a ref it reads fields of is that record, as a row (its
``id`` among them); a ref it only compares or copies stays the id it is stored as, so
``set: {customer: customer}`` keeps working. One expression reading a ref both ways is
refused when definitions load: it would compare a record with an id.
"""

from __future__ import annotations

from typing import Mapping

from apploom.engine.definitions.model import SYSTEM_COLUMNS, Entity
from apploom.engine.expressions.compiled import ExpressionError, compile_expression
from apploom.engine.fields.registry import FieldTypes
from apploom.engine.messages import msg


def followed(entity: Entity, types: FieldTypes, source: str) -> tuple[str, ...]:
    """The ref fields of ``entity`` whose record ``source`` reads fields of."""
    try:
        dotted = compile_expression(source).dotted
    except ExpressionError:
        return ()
    return tuple(sorted({name for name, _ in dotted if _ref(entity, types, name)}))


def follow_problems(
    entity: Entity, entities: Mapping[str, Entity], types: FieldTypes, source: str
) -> list[str]:
    """What is wrong with the refs ``source`` reads fields of (it compiles)."""
    expression = compile_expression(source)
    problems: list[str] = []
    for name, attribute in sorted(expression.dotted):
        target = entities.get(entity.fields[name].to or "") if _ref(entity, types, name) else None
        if target is None or attribute in SYSTEM_COLUMNS:
            continue
        found = target.fields.get(attribute)
        if found is None or found.holds_rows:
            problems.append(
                msg(
                    "the expression reads '{ref}.{field}', but {entity} has no field '{field}' "
                    "to read",
                    ref=name,
                    field=attribute,
                    entity=target.qualified,
                )
            )
    for name in followed(entity, types, source):
        if name in expression.bare:
            problems.append(
                msg(
                    "the expression reads {ref} as a record ({ref}.<field>) and as an id; "
                    "write {ref}.id for its id",
                    ref=name,
                )
            )
    return problems


def _ref(entity: Entity, types: FieldTypes, name: str) -> bool:
    fld = entity.fields.get(name)
    return fld is not None and fld.type in types and types[fld.type].is_reference
