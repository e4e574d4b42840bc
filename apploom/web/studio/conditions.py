"""A rule's condition as the studio's builder shows it: rows of field, operator and value,
joined by and/or, read from the rule's ``if:`` expression and written back into it.

Only what the rows can say is read: a condition the builder cannot represent (a function
call, a field of ``old``, brackets that group an ``or`` inside an ``and``) reads as None,
and the studio shows it as text. ``and`` binds tighter than ``or``, as in the expression,
so ``a and b or c`` is the rows a, and b, or c. The kinds of the entity's fields decide how
a value is written: a number as a number, a date as ``date(y, m, d)``, a datetime by its
local day, an option as its value in quotes."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Mapping

from apploom.engine.errors import ValidationFailed
from apploom.engine.messages import msg

# The kinds of field a row may name, and the operators each offers.
OPERATORS: Mapping[str, tuple[str, ...]] = {
    "text": ("eq", "ne", "contains", "one_of", "empty", "filled"),
    "choice": ("eq", "ne", "one_of", "empty", "filled"),
    "multi": ("contains", "empty", "filled"),
    "number": ("eq", "ne", "gt", "ge", "lt", "le", "empty", "filled"),
    "date": ("eq", "ne", "gt", "ge", "lt", "le", "empty", "filled"),
    "datetime": ("eq", "ne", "gt", "ge", "lt", "le", "empty", "filled"),
    "boolean": ("eq",),
    "link": ("empty", "filled"),
}
NO_VALUE = ("empty", "filled")
_SYMBOLS = {"eq": "==", "ne": "!=", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}
_COMPARED = {
    ast.Eq: "eq",
    ast.NotEq: "ne",
    ast.Gt: "gt",
    ast.GtE: "ge",
    ast.Lt: "lt",
    ast.LtE: "le",
}
_MIRRORED = {"gt": "lt", "ge": "le", "lt": "gt", "le": "ge", "eq": "eq", "ne": "ne"}
# where an empty value is falsy ('' or None); a number's 0 is not empty, so it asks for None
_FALSY_EMPTY = ("text", "choice", "multi", "date", "datetime", "link")


@dataclass(frozen=True)
class Condition:
    """One row: ``field op value``; ``join`` ties it to the row before (the first's is
    "and" and unused). ``value`` is text as typed, a tuple of option values for one_of,
    "yes"/"no" for a boolean, "" where the operator takes none."""

    field: str
    op: str
    value: str | tuple[str, ...] = ""
    join: str = "and"


def rows_of(expression: str | None, kinds: Mapping[str, str]) -> list[Condition] | None:
    """The rows an expression says, [] for none, or None if the builder cannot show it."""
    if not expression or not expression.strip():
        return []
    try:
        tree = ast.parse(expression.strip(), mode="eval").body
    except SyntaxError:
        return None
    groups = tree.values if isinstance(tree, ast.BoolOp) and isinstance(tree.op, ast.Or) else [tree]
    rows: list[Condition] = []
    for g, group in enumerate(groups):
        terms = (
            group.values
            if isinstance(group, ast.BoolOp) and isinstance(group.op, ast.And)
            else [group]
        )
        for t, term in enumerate(terms):
            row = _row(term, kinds)
            if row is None:
                return None
            join = "or" if g and not t else "and"
            rows.append(Condition(row.field, row.op, row.value, join))
    return rows


def expression_of(rows: list[Condition], kinds: Mapping[str, str]) -> str:
    """The expression the rows say ("" for none); ValidationFailed names the row at fault."""
    return " ".join(
        (f"{row.join} " if i else "") + _term(i, row, kinds) for i, row in enumerate(rows)
    )


def _term(i: int, row: Condition, kinds: Mapping[str, str]) -> str:
    kind = kinds.get(row.field)
    if kind is None:
        raise ValidationFailed(
            {f"c{i}_field": msg("'{field}' is not a field a condition reads", field=row.field)}
        )
    if row.op not in OPERATORS[kind]:
        raise ValidationFailed(
            {f"c{i}_op": msg("'{op}' does not fit the field {field}", op=row.op, field=row.field)}
        )
    name = f"local_date({row.field})" if kind == "datetime" else row.field
    if row.op in NO_VALUE:
        falsy = kind in _FALSY_EMPTY
        if row.op == "empty":
            return f"not {row.field}" if falsy else f"{row.field} is None"
        return row.field if falsy else f"{row.field} is not None"
    if kind == "boolean":
        return row.field if row.value == "yes" else f"not {row.field}"
    if row.op == "one_of":
        chosen = [v for v in row.value if v] if isinstance(row.value, tuple) else []
        if not chosen:
            raise ValidationFailed({f"c{i}_value": msg("Choose one or more values")})
        return f"{name} in [{', '.join(_literal(i, kind, v) for v in chosen)}]"
    value = row.value if isinstance(row.value, str) else ", ".join(row.value)
    literal = _literal(i, kind, value)
    if row.op == "contains":
        return f"{literal} in {name}"
    return f"{name} {_SYMBOLS[row.op]} {literal}"


def _literal(i: int, kind: str, value: str) -> str:
    """A value typed into a row, as the expression writes it."""
    typed = value.strip()
    if kind == "number":
        plain = re.sub(r"[,\s]", "", typed)
        try:
            number = Decimal(plain)
        except InvalidOperation:
            number = Decimal("NaN")
        if not plain or not number.is_finite():
            raise ValidationFailed({f"c{i}_value": msg("'{typed}' is not a number", typed=typed)})
        return plain if re.fullmatch(r"-?\d+", plain) else f"Decimal({plain!r})"
    if kind in ("date", "datetime"):
        try:
            day = date.fromisoformat(typed)
        except ValueError:
            raise ValidationFailed(
                {f"c{i}_value": msg("'{typed}' is not a date", typed=typed)}
            ) from None
        return f"date({day.year}, {day.month}, {day.day})"
    if not typed:
        raise ValidationFailed({f"c{i}_value": msg("Fill in the value")})
    return repr(typed)


def _row(term: ast.expr, kinds: Mapping[str, str]) -> Condition | None:
    """One term read as a row, or None."""
    named = _named(term, kinds)
    if named is not None:  # owner: it is set
        kind = kinds[named]
        if kind == "boolean":
            return Condition(named, "eq", "yes")
        return Condition(named, "filled") if kind in _FALSY_EMPTY else None
    if isinstance(term, ast.UnaryOp) and isinstance(term.op, ast.Not):
        named = _named(term.operand, kinds)
        if named is None:
            return None
        kind = kinds[named]
        if kind == "boolean":
            return Condition(named, "eq", "no")
        return Condition(named, "empty") if kind in _FALSY_EMPTY else None
    if not isinstance(term, ast.Compare) or len(term.ops) != 1:
        return None
    left, op, right = term.left, term.ops[0], term.comparators[0]
    if isinstance(op, ast.Is | ast.IsNot):
        field = _field(left, kinds)
        if field is None or not (isinstance(right, ast.Constant) and right.value is None):
            return None
        return Condition(field, "empty" if isinstance(op, ast.Is) else "filled")
    if isinstance(op, ast.In):
        return _membership(left, right, kinds)
    if type(op) not in _COMPARED:
        return None
    name = _COMPARED[type(op)]
    field = _field(left, kinds)
    if field is None:  # 1000 < total, written the other way round
        field, name, left, right = _field(right, kinds), _MIRRORED[name], right, left
    if field is None:
        return None
    value = _value(right, kinds[field])
    if value is None:
        return None
    if kinds[field] == "boolean":
        if name not in ("eq", "ne") or value not in ("yes", "no"):
            return None
        flipped = "no" if value == "yes" else "yes"
        return Condition(field, "eq", value if name == "eq" else flipped)
    return Condition(field, name, value) if name in OPERATORS[kinds[field]] else None


def _membership(left: ast.expr, right: ast.expr, kinds: Mapping[str, str]) -> Condition | None:
    """``field in [...]`` (one of) or ``'text' in field`` (contains)."""
    field = _field(left, kinds)
    if field is not None and isinstance(right, ast.List | ast.Tuple | ast.Set):
        values = [_value(v, kinds[field]) for v in right.elts]
        if not values or any(v is None for v in values) or "one_of" not in OPERATORS[kinds[field]]:
            return None
        return Condition(field, "one_of", tuple(str(v) for v in values))
    field = _field(right, kinds)
    if field is None or "contains" not in OPERATORS[kinds[field]]:
        return None
    value = _value(left, "text")
    return None if value is None else Condition(field, "contains", value)


def _field(node: ast.expr, kinds: Mapping[str, str]) -> str | None:
    """The field a side of a comparison names: ``total``, or ``local_date(shipped_at)``
    for a datetime compared by its day."""
    named = _named(node, kinds)
    if named is not None and kinds[named] != "datetime":
        return named
    call = _called(node, "local_date", 1)
    inner = _named(call.args[0], kinds) if call else None
    return inner if inner is not None and kinds[inner] == "datetime" else None


def _named(node: ast.expr, kinds: Mapping[str, str]) -> str | None:
    """The field ``node`` names, if the rows know it: ``total``, or ``customer.city`` (a
    field of the record a ref points at)."""
    if isinstance(node, ast.Name):
        name = node.id
    elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        name = f"{node.value.id}.{node.attr}"
    else:
        return None
    return name if name in kinds else None


def _value(node: ast.expr, kind: str) -> str | None:
    """A constant as the row's input shows it, or None if it is not one the kind takes."""
    if kind == "number":
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            inner = _value(node.operand, kind)
            return None if inner is None or inner.startswith("-") else f"-{inner}"
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return str(node.value)
        call = _called(node, "Decimal", 1)
        text = call.args[0].value if call and isinstance(call.args[0], ast.Constant) else None
        return text if isinstance(text, str) and _is_number(text) else None
    if kind in ("date", "datetime"):
        call = _called(node, "date", 3)
        parts = [getattr(a, "value", None) for a in call.args] if call else []
        numbers = [p for p in parts if type(p) is int]
        if not parts or len(numbers) != len(parts):
            return None
        try:
            return date(*numbers).isoformat()
        except ValueError:
            return None
    if kind == "boolean":
        if isinstance(node, ast.Constant) and isinstance(node.value, bool):
            return "yes" if node.value else "no"
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.strip():
        return node.value if node.value == node.value.strip() else None
    return None


def _called(node: ast.expr, name: str, count: int) -> ast.Call | None:
    """``node`` if it calls the function ``name`` with ``count`` plain arguments."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == name
        and len(node.args) == count
        and not node.keywords
    ):
        return node
    return None


def _is_number(text: str) -> bool:
    try:
        return Decimal(text).is_finite()
    except InvalidOperation:
        return False
