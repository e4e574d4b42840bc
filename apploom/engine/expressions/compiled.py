"""Expressions in definitions (formulas, conditions, transition guards): checked once,
compiled once, evaluated in the sandbox."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping

from apploom.engine.errors import SandboxError
from apploom.engine.expressions import sandbox
from apploom.engine.expressions.sandbox import Row

ExpressionError = SandboxError
FUNCTIONS = frozenset(sandbox.BUILTINS)

__all__ = ["Expression", "ExpressionError", "FUNCTIONS", "Row", "compile_expression"]


@dataclass(frozen=True)
class Expression:
    source: str
    names: frozenset[str]  # free names it reads (fields and functions)
    attributes: frozenset[str]  # attribute names it reads (fields of rows, methods)
    # (name, attribute) for each attribute read straight off a free name: customer.city
    dotted: frozenset[tuple[str, str]] = frozenset()
    bare: frozenset[str] = frozenset()  # free names it also reads as themselves

    def evaluate(self, names: Mapping[str, Any]) -> Any:
        return sandbox.evaluate(self.source, names)


@lru_cache(maxsize=4096)
def compile_expression(source: str) -> Expression:
    """Check ``source``; raises ExpressionError (a SandboxError) naming what is refused."""
    tree = sandbox.check_expression(source)
    bound: set[str] = set()
    free: set[str] = set()
    attributes: set[str] = set()
    dotted: set[tuple[str, str]] = set()
    heads: set[int] = set()  # the Name nodes an attribute is read from
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            attributes.add(node.attr)
            if isinstance(node.value, ast.Name):
                dotted.add((node.value.id, node.attr))
                heads.add(id(node.value))
    bare: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (bound if isinstance(node.ctx, ast.Store) else free).add(node.id)
            if id(node) not in heads:
                bare.add(node.id)
    return Expression(
        source=source,
        names=frozenset(free - bound),
        attributes=frozenset(attributes),
        dotted=frozenset(p for p in dotted if p[0] not in bound),
        bare=frozenset(bare - bound),
    )
