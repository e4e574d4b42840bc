"""Definitions' expressions compiled to SQL: a report's measures (``qty * item.cost``) and
``having`` (``total > 1000``), and a balance's check and figures (``on_hand - reserved``).

The caller resolves names, each to a :class:`Term`: a report resolves paths and joins
them, a balance reads its sums. Money on SQLite is a scaled integer, so a term carries
the factor its raw values are scaled by and its decimal places; sums, differences and
comparisons first bring both sides to the finer factor, so they stay exact. Each caller
allows the operators that make sense for it: a balance's check only adds, subtracts and
compares whole numbers, so the database can enforce it in one conditional UPDATE.
"""

from __future__ import annotations

import ast
import operator
from dataclasses import dataclass
from typing import Any, Callable

from sqlalchemy import Float, and_, cast, func, literal, not_, or_

from apploom.engine.errors import BadQuery
from apploom.engine.messages import msg

ARITHMETIC = frozenset({ast.Add, ast.Sub, ast.Mult, ast.Div, ast.USub})
COMPARISONS = frozenset({ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq})
LOGIC = frozenset({ast.And, ast.Or, ast.Not})
EVERYTHING = ARITHMETIC | COMPARISONS | LOGIC
_COMPARE = {
    ast.Lt: "__lt__",
    ast.LtE: "__le__",
    ast.Gt: "__gt__",
    ast.GtE: "__ge__",
    ast.Eq: "__eq__",
    ast.NotEq: "__ne__",
}


@dataclass(frozen=True)
class Term:
    """SQL for a value, the factor its raw values are scaled by on this database, and its
    decimal places (None once a division made it inexact)."""

    sql: Any
    factor: float = 1
    places: int | None = 0


Resolve = Callable[[str], Term]


def compile_sql(
    source: str,
    resolve: Resolve,
    *,
    allowed: frozenset = EVERYTHING,
    refusal: str = msg("may not be used here"),
) -> Term:
    """The SQL of ``source``; a name is given to ``resolve`` (a dotted path for
    ``item.cost``); anything outside ``allowed`` raises BadQuery, worded by ``refusal``
    ("may only add ...") and naming the part refused."""
    try:
        tree = ast.parse(source, mode="eval").body
    except SyntaxError as exc:
        raise BadQuery(
            msg("'{source}' is not an expression: {reason}", source=source, reason=exc.msg),
            {"expression": source},
        ) from None
    return _Builder(resolve, allowed, refusal).build(tree)


def dotted(node: ast.AST) -> str:
    """``item.cost`` for the node of ``item.cost``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    raise BadQuery(msg("'{part}' is not a field or path", part=ast.unparse(node)))


def refused(refusal: str, part: str) -> str:
    """What an expression may do here, and the part of it that does something else."""
    return msg("{refusal} (not '{part}')", refusal=refusal, part=part)


class _Builder:
    def __init__(self, resolve: Resolve, allowed: frozenset, refusal: str):
        self.resolve, self.allowed, self.refusal = resolve, allowed, refusal

    def build(self, node: ast.AST) -> Term:
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, (int, float))
            and not isinstance(node.value, bool)
        ):
            return Term(literal(node.value), 1, 0 if isinstance(node.value, int) else None)
        if isinstance(node, (ast.Name, ast.Attribute)):
            return self.resolve(dotted(node))
        elif isinstance(node, ast.BinOp) and type(node.op) in self.allowed:
            return self._arithmetic(node.op, self.build(node.left), self.build(node.right))
        elif isinstance(node, ast.UnaryOp) and type(node.op) in self.allowed:
            inner = self.build(node.operand)
            if isinstance(node.op, ast.USub):
                return Term(-inner.sql, inner.factor, inner.places)
            return Term(not_(inner.sql))
        elif (
            isinstance(node, ast.Compare)
            and len(node.ops) == 1
            and type(node.ops[0]) in self.allowed
        ):
            left, right = _aligned(self.build(node.left), self.build(node.comparators[0]))
            return Term(getattr(left, _COMPARE[type(node.ops[0])])(right))
        elif isinstance(node, ast.BoolOp) and type(node.op) in self.allowed:
            parts = [self.build(value).sql for value in node.values]
            return Term(and_(*parts) if isinstance(node.op, ast.And) else or_(*parts))
        part = ast.unparse(node)
        raise BadQuery(refused(self.refusal, part), {"expression": part})

    @staticmethod
    def _arithmetic(op: ast.operator, left: Term, right: Term) -> Term:
        if isinstance(op, ast.Mult):
            return Term(
                left.sql * right.sql, left.factor * right.factor, _places(left, right, operator.add)
            )
        if isinstance(op, ast.Div):
            return Term(
                cast(left.sql, Float) / func.nullif(right.sql, 0), left.factor / right.factor, None
            )
        a, b = _aligned(left, right)
        return Term(
            a + b if isinstance(op, ast.Add) else a - b,
            max(left.factor, right.factor),
            _places(left, right, max),
        )


def _places(left: Term, right: Term, combine: Callable[[int, int], int]) -> int | None:
    """The decimal places of a product (added) or a sum (the larger); None if inexact."""
    if left.places is None or right.places is None:
        return None
    return combine(left.places, right.places)


def _aligned(left: Term, right: Term) -> tuple[Any, Any]:
    """Both sides at the finer factor (they are powers of ten), so they can be added or
    compared exactly."""
    top = max(left.factor, right.factor)
    return _scaled(left.sql, top / left.factor), _scaled(right.sql, top / right.factor)


def _scaled(sql: Any, by: float) -> Any:
    """``sql`` times ``by``, exactly when ``by`` is whole (money's scale on SQLite)."""
    if by == 1:
        return sql
    return sql * (int(by) if float(by).is_integer() else by)
