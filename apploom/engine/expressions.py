"""Formulas: small Python expressions over a record, checked before they run.

An expression is parsed, every node checked against an allow-list, attribute
reads rewritten into a field lookup, and decimal literals kept exact. It can
call only the functions listed here and read only the names it is given.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any, Mapping

MAX_SOURCE = 2000
MAX_NODES = 400
MAX_SEQUENCE = 10_000


class ExpressionError(ValueError):
    """The expression cannot be compiled or evaluated; the message says why."""


def _safe_round(value: Any, digits: int = 0) -> Any:
    return round(value, digits)


def _present(values: Any) -> list:
    """Aggregates skip empty values: a line still being typed does not blank the total."""
    return [v for v in values if v is not None]


FUNCTIONS: dict[str, Any] = {
    "sum": lambda values, start=0: sum(_present(values), start),
    "min": lambda values: min(_present(values), default=None),
    "max": lambda values: max(_present(values), default=None),
    "len": len, "abs": abs, "round": _safe_round, "int": int, "str": str, "Decimal": Decimal,
}

_ALLOWED = (
    ast.Expression, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Compare, ast.IfExp, ast.Call,
    ast.Name, ast.Load, ast.Store, ast.Constant, ast.Attribute, ast.GeneratorExp, ast.ListComp,
    ast.comprehension, ast.List, ast.Tuple, ast.And, ast.Or, ast.Add, ast.Sub, ast.Mult,
    ast.Div, ast.Mod, ast.FloorDiv, ast.USub, ast.UAdd, ast.Not, ast.Eq, ast.NotEq, ast.Lt,
    ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot,
)


class Row(Mapping):
    """A read-only view of a record for expressions: ``line.qty`` reads a field."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any]):
        self._values = values

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def _field(obj: Any, name: str) -> Any:
    if isinstance(obj, Row):
        if name not in obj:
            raise ExpressionError(f"a row has no field '{name}'")
        return obj[name]
    raise ExpressionError(f"'.{name}' can only be read from a row of a table field")


def _multiply(left: Any, right: Any) -> Any:
    for seq, count in ((left, right), (right, left)):
        if isinstance(seq, (str, list, tuple)) and isinstance(count, int):
            if len(seq) * count > MAX_SEQUENCE:
                raise ExpressionError("the result would be too long")
    return left * right


@dataclass(frozen=True)
class Expression:
    source: str
    names: frozenset[str]          # free names it reads (fields and functions)
    attributes: frozenset[str]     # attribute names it reads (fields of rows)
    code: Any

    def evaluate(self, names: Mapping[str, Any]) -> Any:
        scope = {"__builtins__": {}, "__field__": _field, "__mul__": _multiply,
                 "__dec__": Decimal, **FUNCTIONS, **names}
        return eval(self.code, scope)  # noqa: S307 - checked AST, empty builtins


class _Rewriter(ast.NodeTransformer):
    """Attribute reads become field lookups, float literals exact decimals, * size-checked."""

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        return ast.Call(func=ast.Name("__field__", ast.Load()),
                        args=[self.visit(node.value), ast.Constant(node.attr)], keywords=[])

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, float):
            return ast.Call(func=ast.Name("__dec__", ast.Load()),
                            args=[ast.Constant(repr(node.value))], keywords=[])
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Mult):
            return ast.Call(func=ast.Name("__mul__", ast.Load()), args=[node.left, node.right],
                            keywords=[])
        return node


@lru_cache(maxsize=2048)
def compile_expression(source: str) -> Expression:
    """Check and compile ``source``; raises ExpressionError naming what is not allowed."""
    if len(source) > MAX_SOURCE:
        raise ExpressionError(f"is longer than {MAX_SOURCE} characters")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"is not a valid expression ({exc.msg})") from None
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise ExpressionError("is too complex")
    bound: set[str] = set()
    free: set[str] = set()
    attributes: set[str] = set()
    for node in nodes:
        name = getattr(node, "id", None) or getattr(node, "attr", None)
        if isinstance(name, str) and name.startswith("_"):
            raise ExpressionError(f"'{name}': names starting with _ are not allowed")
        if not isinstance(node, _ALLOWED):
            raise ExpressionError(f"uses {type(node).__name__}, which formulas do not allow")
    for node in nodes:
        if isinstance(node, ast.Name):
            (bound if isinstance(node.ctx, ast.Store) else free).add(node.id)
        elif isinstance(node, ast.Attribute):
            attributes.add(node.attr)
        elif isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                raise ExpressionError("can only call: " + ", ".join(sorted(FUNCTIONS)))
            if node.keywords:
                raise ExpressionError("function calls take no keyword arguments here")
    tree = ast.fix_missing_locations(_Rewriter().visit(tree))
    code = compile(tree, "<formula>", "eval")
    return Expression(source=source, names=frozenset(free - bound),
                      attributes=frozenset(attributes), code=code)
