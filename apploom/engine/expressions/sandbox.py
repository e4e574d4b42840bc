"""The sandbox for expressions (formulas, conditions, guards) and admin scripts.

RestrictedPython compiles the code and routes every attribute read, item read,
iteration and write through guards of ours; before that, our own checks refuse
anything outside a small allow-list of syntax, deep or huge sources, and format
specifications. The guards:

* attributes: only a row's fields and an allow-list of methods of plain types;
* iteration: a step budget (and a deadline) shared by loops, comprehensions and
  every curated function that iterates, so ``sorted``/``tuple``/``zip`` cannot
  loop in C past it;
* arithmetic, f-strings and text methods: ``+``, ``-``, ``*``, ``**``, ``<<``, ``%``,
  f-strings and slices check the size of what they would build before building it,
  and are charged for it, so one C call cannot run away;
* work that grows with nested data: comparing, sorting, ``min``/``max``, ``in``,
  ``count``/``index`` and hashing tuples are charged for every item they may touch,
  counting a list once for each place it appears (``[[1] * 99999] * 99999`` holds
  10**10 items to compare, not 99,999);
* results: plain data only (numbers, text, dates, lists and dicts of them).

Expressions run in the calling process. Scripts run in a child process from a
fork server, under ``RLIMIT_CPU`` and ``RLIMIT_AS`` and a wall-clock watchdog in
the parent, so a runaway script never holds a web worker.
"""

from __future__ import annotations

import ast
import math
import multiprocessing
import operator
import resource
import time
from contextvars import ContextVar
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from types import GeneratorType
from typing import Any, Iterable, Literal, Mapping

from RestrictedPython import compile_restricted
from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence
from RestrictedPython.transformer import RestrictingNodeTransformer

from apploom.engine import clock
from apploom.engine.errors import SandboxError
from apploom.engine.messages import msg

MAX_EXPRESSION = 2_000  # characters
MAX_SCRIPT = 20_000
MAX_NESTING = 60  # brackets and blocks
MAX_DEPTH = 100  # levels of the parsed code: operators, calls and brackets one in another
MAX_STEPS = 200_000  # iterations per run
MAX_SIZE = 100_000  # items or characters one operation may build
MAX_INT_BITS = 4_000  # about 1,200 digits
EXPRESSION_SECONDS = 1.0
SCRIPT_SECONDS = 1.0
SCRIPT_MEMORY = 100 * 1024 * 1024

__all__ = ["SandboxError", "evaluate", "execute", "check_expression", "check_script", "Row"]


class Row(Mapping):
    """A read-only record or child row: ``line.qty`` reads a field."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any]):
        self._values = values

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


# ---- static checks --------------------------------------------------------------------------

_EXPRESSION_NODES = (
    ast.Expression,
    ast.BoolOp,
    ast.BinOp,
    ast.UnaryOp,
    ast.Compare,
    ast.IfExp,
    ast.Call,
    ast.Name,
    ast.Load,
    ast.Store,
    ast.Constant,
    ast.Attribute,
    ast.Subscript,
    ast.Slice,
    ast.GeneratorExp,
    ast.ListComp,
    ast.DictComp,
    ast.SetComp,
    ast.comprehension,
    ast.List,
    ast.Tuple,
    ast.Dict,
    ast.Set,
    ast.JoinedStr,
    ast.FormattedValue,
    ast.keyword,
    ast.And,
    ast.Or,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.Mod,
    ast.FloorDiv,
    ast.Pow,
    ast.USub,
    ast.UAdd,
    ast.Not,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.Is,
    ast.IsNot,
)
_SCRIPT_NODES = _EXPRESSION_NODES + (
    ast.Module,
    ast.Expr,
    ast.Assign,
    ast.AugAssign,
    ast.If,
    ast.For,
    ast.While,
    ast.Break,
    ast.Continue,
    ast.Pass,
    ast.FunctionDef,
    ast.arguments,
    ast.arg,
    ast.Return,
    ast.Lambda,
    ast.Delete,
    ast.Del,
)


def _nesting(source: str) -> int:
    depth = deepest = 0
    for char in source:
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    return deepest


def _check(source: str, mode: str) -> ast.AST:
    limit, allowed = (
        (MAX_EXPRESSION, _EXPRESSION_NODES) if mode == "eval" else (MAX_SCRIPT, _SCRIPT_NODES)
    )
    if not isinstance(source, str):
        raise SandboxError(msg("the code must be text"))
    if len(source) > limit:
        raise SandboxError(msg("the code is longer than {limit} characters", limit=limit))
    if _nesting(source) > MAX_NESTING:
        raise SandboxError(msg("the code is nested more than {most} levels deep", most=MAX_NESTING))
    try:
        tree = ast.parse(source.strip() if mode == "eval" else source, mode=mode)
    except SyntaxError as exc:
        said = (
            msg(
                "is not a valid expression ({reason}, line {line})", reason=exc.msg, line=exc.lineno
            )
            if mode == "eval"
            else msg(
                "is not a valid script ({reason}, line {line})", reason=exc.msg, line=exc.lineno
            )
        )
        raise SandboxError(said) from None
    except (RecursionError, MemoryError, ValueError):
        raise SandboxError(msg("the code is too deeply nested or too large")) from None
    _check_depth(tree)
    for node in ast.walk(tree):
        name = (
            getattr(node, "id", None)
            or getattr(node, "attr", None)
            or getattr(node, "name", None)
            or getattr(node, "arg", None)
        )
        if isinstance(name, str) and name.startswith("_"):
            raise SandboxError(msg("'{name}': names starting with _ are not allowed", name=name))
        if not isinstance(node, allowed):
            raise SandboxError(
                msg("uses {construct}, which is not allowed here", construct=type(node).__name__)
            )
        if isinstance(node, ast.FormattedValue) and (
            node.format_spec is not None or node.conversion != -1
        ):
            raise SandboxError(msg("format specifications are not allowed; use round() or str()"))
        if isinstance(node, ast.Constant) and isinstance(node.value, bytes):
            raise SandboxError(msg("bytes are not allowed; use text"))
        if isinstance(node, ast.FunctionDef) and node.decorator_list:
            raise SandboxError(msg("decorators are not allowed"))
        if (isinstance(node, ast.Dict) and None in node.keys) or (
            isinstance(node, ast.keyword) and node.arg is None
        ):
            raise SandboxError(msg("unpacking with ** is not allowed"))
    return tree


def _call(name: str, node: ast.AST, *args: ast.expr) -> ast.expr:
    call = ast.Call(func=ast.Name(name, ast.Load()), args=list(args), keywords=[])
    return ast.fix_missing_locations(ast.copy_location(call, node))


def _thunk(value: ast.expr) -> ast.expr:
    """``lambda: value``: a later operand of a chained comparison, evaluated only if needed."""
    arguments = ast.arguments(
        posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[]
    )
    return ast.copy_location(ast.Lambda(args=arguments, body=value), value)


def _check_depth(tree: ast.AST) -> None:
    """Refuse code nested deeper than MAX_DEPTH (``1+1+1...``, ``not not ...``, ``x.a.a...``):
    compiling walks the tree recursively and would overflow Python's stack."""
    stack = [(tree, 1, 1)]
    while stack:
        node, depth, line = stack.pop()
        line = getattr(node, "lineno", line)
        if depth > MAX_DEPTH:
            raise SandboxError(
                f"the code is nested more than {MAX_DEPTH} levels deep (line {line}); "
                "split it into smaller parts"
            )
        stack.extend((child, depth + 1, line) for child in ast.iter_child_nodes(node))


class _Policy(RestrictingNodeTransformer):
    """RestrictedPython's rewriting, plus calls to our guards where Python would do work
    in C that grows with its operands: operators, comparisons, f-strings, hashed keys."""

    _CHECKED = {
        ast.Add: "+",
        ast.Sub: "-",
        ast.Mult: "*",
        ast.Pow: "**",
        ast.LShift: "<<",
        ast.Mod: "%",
    }
    _COMPARED = {
        ast.Eq: "==",
        ast.NotEq: "!=",
        ast.Lt: "<",
        ast.LtE: "<=",
        ast.Gt: ">",
        ast.GtE: ">=",
        ast.In: "in",
        ast.NotIn: "not in",
        ast.Is: "is",
        ast.IsNot: "is not",
    }

    def _visited(self, node: ast.AST, kind: type) -> Any:
        """RestrictedPython's rewriting of ``node``, which must hand back a ``kind``."""
        visited = getattr(super(), f"visit_{type(node).__name__}")(node)
        if not isinstance(visited, kind):
            raise SandboxError(f"is not allowed: a {kind.__name__} was rewritten unexpectedly")
        return visited

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        node = self._visited(node, ast.BinOp)
        symbol = self._CHECKED.get(type(node.op))
        if symbol is None:
            return node
        return _call("_binop_", node, ast.Constant(symbol), node.left, node.right)

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        node = self._visited(node, ast.Compare)
        ops = [ast.Constant(self._COMPARED[type(op)]) for op in node.ops]
        if len(ops) == 1 and isinstance(node.ops[0], (ast.Is, ast.IsNot)):
            return node  # identity: no work to bound
        if len(ops) == 1:
            return _call("_compare_", node, ops[0], node.left, node.comparators[0])
        later = [
            ast.Tuple([op, _thunk(c)], ast.Load())
            for op, c in zip(ops, node.comparators, strict=True)
        ]
        return _call("_chain_", node, node.left, *later)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.AST:
        node = self._visited(node, ast.JoinedStr)
        parts = [p.value if isinstance(p, ast.FormattedValue) else p for p in node.values]
        return _call("_fstring_", node, *parts)

    def visit_Dict(self, node: ast.Dict) -> ast.AST:
        node = self._visited(node, ast.Dict)
        node.keys = [_call("_key_", k, k) if k is not None else None for k in node.keys]
        return node

    def visit_Set(self, node: ast.Set) -> ast.AST:
        node = self._visited(node, ast.Set)
        node.elts = [_call("_key_", e, e) for e in node.elts]
        return node

    def visit_DictComp(self, node: ast.DictComp) -> ast.AST:
        node = self._visited(node, ast.DictComp)
        node.key = _call("_key_", node.key, node.key)
        return node

    def visit_SetComp(self, node: ast.SetComp) -> ast.AST:
        node = self._visited(node, ast.SetComp)
        node.elt = _call("_key_", node.elt, node.elt)
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        """Decimal literals stay exact: 0.1 means Decimal('0.1'), as money needs."""
        node = self._visited(node, ast.Constant)
        if not isinstance(node.value, float):
            return node
        return _call("Decimal", node, ast.Constant(repr(node.value)))


@lru_cache(maxsize=4096)
def _compile(source: str, mode: Literal["eval", "exec"]):
    _check(source, mode)
    try:
        return compile_restricted(
            source.strip() if mode == "eval" else source, "<sandbox>", mode, policy=_Policy
        )
    except SyntaxError as exc:
        raise SandboxError(f"is not allowed: {exc}") from None
    except RecursionError:  # within MAX_DEPTH, but called from a deep stack
        raise SandboxError("the code is too deeply nested to compile here") from None


def check_expression(source: str) -> ast.Expression:
    """The parsed expression if the sandbox accepts it; raises SandboxError otherwise."""
    _compile(source, "eval")
    return ast.parse(source.strip(), mode="eval")


def check_script(source: str) -> None:
    _compile(source, "exec")


# ---- the guards a run uses ------------------------------------------------------------------

_METHODS: dict[type, frozenset[str]] = {
    str: frozenset(
        "capitalize casefold center count endswith find isalnum isalpha isdigit "
        "islower isnumeric isspace istitle isupper join ljust lower lstrip "
        "partition removeprefix removesuffix replace rfind rjust rpartition rsplit "
        "rstrip split splitlines startswith strip swapcase title upper zfill".split()
    ),
    list: frozenset("append count extend index insert pop remove reverse sort".split()),
    dict: frozenset("get items keys values pop setdefault update".split()),
    tuple: frozenset("count index".split()),
    Decimal: frozenset("quantize is_zero".split()),
    date: frozenset("year month day weekday isoweekday isoformat".split()),
    datetime: frozenset("year month day hour minute second weekday isoformat date".split()),
    timedelta: frozenset("days seconds total_seconds".split()),
}
_PLAIN = (type(None), bool, int, float, Decimal, str, date, datetime, timedelta)


class _Run:
    """The step budget and deadline of one evaluation or script run."""

    def __init__(self, seconds: float):
        self.steps = 0
        self.deadline = time.monotonic() + seconds

    def tick(self, count: int = 1) -> None:
        self.steps += count
        if self.steps > MAX_STEPS:
            raise SandboxError(f"stopped after {MAX_STEPS} steps; the code loops too long")
        if self.steps % 1000 < count and time.monotonic() > self.deadline:
            raise SandboxError("stopped: the code ran out of time")

    def iterate(self, iterable: Iterable) -> Iterable:
        if isinstance(iterable, Row):
            iterable = list(iterable)
        if not isinstance(iterable, _ITERABLE):
            raise SandboxError(f"cannot loop over {type(iterable).__name__}")
        return _Budgeted(self, iterable)


# The run under way in this thread; the guards and builtins below spend its budget.
_current: ContextVar[_Run] = ContextVar("apploom_sandbox_run")


def _iterate(iterable: Iterable) -> Iterable:
    return _current.get().iterate(iterable)


def _budgeted(values: Iterable) -> list:
    return list(_iterate(values))


def _getattr(obj: Any, name: str) -> Any:
    if isinstance(obj, Row):
        if name not in obj:
            raise SandboxError(f"a row has no field '{name}'")
        return obj[name]
    allowed = next((names for kind, names in _METHODS.items() if type(obj) is kind), ())
    if name not in allowed:
        raise SandboxError(f"'.{name}' is not allowed on {type(obj).__name__}")
    method = getattr(obj, name)
    if isinstance(obj, str):
        return _text_method(obj, name, method)
    if isinstance(obj, (list, tuple, dict)):
        return _container_method(obj, name, method)
    return method


# Text methods whose result can be far larger than their inputs: checked before they run.
_SIZED_TEXT = frozenset({"center", "ljust", "rjust", "zfill", "replace", "join"})


def _text_method(text: str, name: str, method: Any) -> Any:
    """Every text method reads or copies the whole text: each call is charged for it, and
    those that can build far more than they read are refused before they run."""

    def checked(*args: Any, **options: Any) -> Any:
        if name == "join":
            parts = _budgeted(args[0])
            size = sum(len(p) for p in parts if isinstance(p, str)) + len(text) * len(parts)
            args = (parts,)
        elif name == "replace":
            old, new = str(args[0]), str(args[1])
            size = len(text) + (text.count(old) if old else len(text) + 1) * len(new)
        elif name in _SIZED_TEXT:
            size = args[0] if args and isinstance(args[0], int) else 0
        else:
            _spend(len(text) + sum(len(a) for a in args if isinstance(a, str)))
            return method(*args, **options)
        if size > MAX_SIZE:
            raise SandboxError(f"the result would be longer than {MAX_SIZE}")
        _spend(size)
        return method(*args, **options)

    return checked


def _container_method(obj: list | tuple | dict, name: str, method: Any) -> Any:
    """List, tuple and dict methods, charged for the items they copy, move or compare."""

    def checked(*args: Any, **options: Any) -> Any:
        if name in ("count", "index", "remove"):
            _touch(obj, *args[:1])
        elif name == "sort" and isinstance(obj, list):
            _touch_sorting(obj)
        elif name == "extend" and args:
            args = (_budgeted(args[0]),)
        elif name == "update" and args:
            other = args[0] if isinstance(args[0], dict) else _dict(args[0])
            _spend(len(other))
            _hashing(other)
            args = (other,)
        elif name in ("get", "setdefault") or (name == "pop" and isinstance(obj, dict)):
            _hashing(args[:1])
        elif name in ("insert", "pop", "reverse"):
            _spend(len(obj))
        return method(*args, **options)

    return checked


def _spend(size: int) -> None:
    """Charge the run for building something of ``size`` items (a step per 10)."""
    if size > 100:
        _current.get().tick(size // 10)


# What comparing is cheap for: values with no items inside (text is compared in C at
# memory speed, and weighs a unit more per 100 characters).
_FLAT = frozenset({type(None), bool, int, float, Decimal, str, date, datetime, timedelta})
_VIEWS: tuple[type, ...] = (type({}.items()), type({}.keys()), type({}.values()))


def _weight(values: Iterable) -> int:
    """How many items comparing, sorting or hashing ``values`` may touch: each item of each
    container, counted every time it appears, so a list repeated 99,999 times weighs
    99,999 times its own weight. Stops counting (and is MAX_SIZE + 1) past MAX_SIZE, so
    weighing costs no more than the work it allows."""
    total = 0
    stack = list(values)
    if len(stack) > MAX_SIZE:
        return MAX_SIZE + 1
    while stack:
        item = stack.pop()
        kind = type(item)
        total += 1 + len(item) // 100 if kind is str else 1
        if kind in _FLAT:
            continue
        if isinstance(item, Row):
            children: Any = item.values()
        elif kind is dict:
            children = [*item, *item.values()]
        elif isinstance(item, (list, tuple, set, frozenset, *_VIEWS)):
            children = item
        else:
            continue
        if total + len(children) > MAX_SIZE:
            return MAX_SIZE + 1
        stack.extend(children)
    return total


def _touch(*values: Any, doing: str = "compare") -> int:
    """Charge the run for an operation that may touch every item of ``values`` (comparing
    them, counting in them); refused if that would be more than MAX_SIZE items."""
    weight = _weight(values)
    if weight > MAX_SIZE:
        raise SandboxError(f"the values are too large to {doing}: more than {MAX_SIZE} items")
    _spend(weight)
    return weight


def _touch_sorting(values: list) -> None:
    """Sorting compares each value about log2(n) times; flat values cost their step each."""
    nested = [v for v in values if type(v) not in _FLAT]
    if nested:
        _spend(_touch(*nested, doing="sort") * len(values).bit_length())


def _hashing(keys: Iterable) -> None:
    """Charge for hashing keys: a tuple is hashed item by item, every time."""
    for key in keys:
        if type(key) is tuple:
            _touch(key, doing="hash")


def _key(key: Any) -> Any:
    _hashing((key,))
    return key


_COMPARISONS: dict[str, Any] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "in": lambda a, b: a in b,
    "not in": lambda a, b: a not in b,
    "is": operator.is_,
    "is not": operator.is_not,
}


def _compare(symbol: str, left: Any, right: Any) -> Any:
    if type(left) not in _FLAT or type(right) not in _FLAT:
        if symbol in ("in", "not in") and isinstance(right, (dict, set, frozenset, Row)):
            _hashing((left,))  # a lookup, not a scan
        elif symbol not in ("is", "is not"):
            _touch(left, right)
    return _COMPARISONS[symbol](left, right)


def _chain(left: Any, *later: tuple[str, Any]) -> Any:
    """``a < b < c``: each comparison checked, each operand evaluated once and only if needed."""
    result: Any = True
    for symbol, operand in later:
        right = operand()
        result = _compare(symbol, left, right)
        if not result:
            return result
        left = right
    return result


def _fstring(*parts: Any) -> str:
    """An f-string shows values as ``str()`` does, checked for size before it is built."""
    for part in parts:
        if not isinstance(part, _PLAIN):
            raise SandboxError(
                f"an f-string shows text, numbers and dates, not a {type(part).__name__}"
            )
    texts = [_to_str(p) for p in parts]
    size = sum(len(t) for t in texts)
    if size > MAX_SIZE:
        raise SandboxError(f"the result would be longer than {MAX_SIZE}")
    _spend(size)
    return "".join(texts)


def _getitem(obj: Any, key: Any) -> Any:
    if not isinstance(obj, (list, tuple, dict, str, Row)):
        raise SandboxError(f"cannot index {type(obj).__name__}")
    if isinstance(key, slice):
        if key.step is not None and key.step == 0:
            raise SandboxError("a slice step cannot be zero")
        if not isinstance(obj, (dict, Row)):
            _spend(len(range(*key.indices(len(obj)))))
    elif isinstance(obj, dict):
        _hashing((key,))
    return obj[key]


def _write(obj: Any) -> Any:
    if isinstance(obj, (list, dict)):
        return obj
    raise SandboxError(f"cannot change a {type(obj).__name__}")


_SEQUENCES = (str, list, tuple)


def _binop(symbol: str, left: Any, right: Any) -> Any:
    _check_size(symbol, left, right)
    if symbol == "+":
        if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
            _spend(len(left) + len(right))
        return left + right
    if symbol == "-":
        if isinstance(left, set):
            _spend(len(left))
        return left - right
    if symbol == "*":
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, (str, list, tuple)) and isinstance(count, int):
                _spend(len(seq) * count)
        return left * right
    if symbol == "**":
        return left**right
    if symbol == "<<":
        return left << right
    return left % right


def _inplace(op: str, left: Any, right: Any) -> Any:
    symbol = op.rstrip("=")
    if symbol in ("+", "-", "*", "**", "<<", "%"):
        return _binop(symbol, left, right)
    operations = {
        "/": lambda: left / right,
        "//": lambda: left // right,
    }
    if symbol not in operations:
        raise SandboxError(f"'{op}' is not allowed")
    return operations[symbol]()


class _Budgeted:
    """An iterator that spends the run's step budget."""

    def __init__(self, run: _Run, iterable: Iterable):
        self.run = run
        self.inner = iter(iterable)

    def __iter__(self):
        return self

    def __next__(self):
        self.run.tick()
        return next(self.inner)


# What code may loop over: plain containers, and generators it made itself (their own
# loops are budgeted; no generator comes from outside, and gi_frame is out of reach).
_ITERABLE: tuple[type, ...] = (
    list,
    tuple,
    dict,
    str,
    range,
    set,
    frozenset,
    GeneratorType,
    _Budgeted,
    type({}.items()),
    type({}.keys()),
    type({}.values()),
)


def _one_or_many(values: tuple) -> Iterable:
    return values[0] if len(values) == 1 else values


def _present(values: list) -> list:
    """Aggregates skip empty values: a line still being typed does not blank a total."""
    kept = [v for v in values if v is not None]
    if not kept:
        raise ValueError("no values")
    return kept


def _to_int(value: Any = 0) -> int:
    if isinstance(value, str) and len(value) > 30:
        raise SandboxError("int() takes at most 30 digits here")
    _check_magnitude(value)
    return int(value)


def _check_magnitude(value: Any) -> None:
    """Refuse numbers too large to turn into an int or to round (10**1000 and beyond)."""
    if isinstance(value, Decimal) and value.is_finite() and value.adjusted() > 1000:
        raise SandboxError("the number is too large")
    if isinstance(value, float) and math.isfinite(value) and abs(value) > 1e300:
        raise SandboxError("the number is too large")


def _round(value: Any, digits: int = 0) -> Any:
    _check_magnitude(value)
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise SandboxError("the number is too large")
    if not isinstance(digits, int) or abs(digits) > 30:
        raise SandboxError("round() keeps at most 30 digits")
    return round(value, digits)


def _round_half_up(value: Any, digits: int = 0) -> Any:
    """Rounds halves away from zero (四舍五入), as invoices and tax offices do; round()
    rounds halves to even, as Python does."""
    _check_magnitude(value)
    if not isinstance(digits, int) or abs(digits) > 30:
        raise SandboxError("round_half_up() keeps at most 30 digits")
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise SandboxError("round_half_up() rounds numbers only")
    number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    return number.quantize(Decimal(1).scaleb(-digits), ROUND_HALF_UP)


def _local_date(moment: Any) -> date | None:
    """The day a moment falls on in the business's time zone (an order placed at 01:00
    in Hangzhou is placed that day, not the day before as UTC has it)."""
    if moment is None:
        return None
    if not isinstance(moment, datetime):
        raise SandboxError("local_date() takes a date and time")
    return clock.local(moment).date()


def _whole(function: Any) -> Any:
    def checked(value: Any) -> int:
        _check_magnitude(value)
        return function(value)

    return checked


def _sum(values: Iterable, start: Any = 0) -> Any:
    """Sums numbers (empty values skipped); adding up lists or text is not allowed."""
    total = start
    for value in _budgeted(values):
        if value is None:
            continue
        if not isinstance(value, (int, float, Decimal)) or isinstance(value, bool):
            raise SandboxError("sum() adds up numbers only")
        total = total + value
    return total


def _to_str(value: Any = "") -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise SandboxError("the number is too large to write out")
    if not isinstance(value, _PLAIN):
        raise SandboxError(f"str() of a {type(value).__name__} is not allowed")
    return str(value)


def _to_decimal(value: Any = 0) -> Decimal:
    """A Decimal from text, a number or a Decimal; not from a tuple of digits, which could
    make one of any length."""
    if isinstance(value, str) and len(value) > 60:
        raise SandboxError("Decimal() takes at most 60 characters here")
    if not isinstance(value, (str, int, float, Decimal)):
        raise SandboxError(f"Decimal() of a {type(value).__name__} is not allowed")
    return Decimal(str(value)) if isinstance(value, float) else Decimal(value)


def _check_size(symbol: str, left: Any, right: Any) -> None:
    if symbol == "%" and isinstance(left, str):
        raise SandboxError("%-formatting of text is not allowed; use + or str()")
    if symbol == "+" and isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
        if len(left) + len(right) > MAX_SIZE:
            raise SandboxError(f"the result would be longer than {MAX_SIZE}")
    if symbol == "*":
        for seq, count in ((left, right), (right, left)):
            if (
                isinstance(seq, (str, list, tuple))
                and isinstance(count, int)
                and len(seq) * count > MAX_SIZE
            ):
                raise SandboxError(f"the result would be longer than {MAX_SIZE}")
        if (
            isinstance(left, int)
            and isinstance(right, int)
            and left.bit_length() + right.bit_length() > MAX_INT_BITS
        ):
            raise SandboxError("the number would be too large")
    if symbol == "**" and isinstance(right, (int, Decimal)) and not isinstance(right, bool):
        base: int | Decimal = 2
        if isinstance(left, int):
            base = abs(left)
        elif isinstance(left, Decimal):
            base = abs(left)
        if base > 1 and right > 0 and math.log2(base) * float(right) > MAX_INT_BITS:
            raise SandboxError("the number would be too large")
    if symbol == "<<" and isinstance(right, int) and right > MAX_INT_BITS:
        raise SandboxError("the number would be too large")


def _check_result_size(value: Any) -> None:
    if isinstance(value, (str, list, tuple)) and len(value) > MAX_SIZE:
        raise SandboxError(f"the result would be longer than {MAX_SIZE}")
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise SandboxError("the number would be too large")


def _range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_SIZE:
        raise SandboxError(f"range() may have at most {MAX_SIZE} numbers")
    return numbers


def _sorted(values: Iterable, key: Any = None, reverse: bool = False) -> list:
    items = _budgeted(values)
    _touch_sorting(items)
    return sorted(items, key=key, reverse=reverse)


def _extreme(function: Any) -> Any:
    """``min`` or ``max``: one comparison per value, each charged for what it holds."""

    def checked(*values: Any, **options: Any) -> Any:
        items = _present(_budgeted(_one_or_many(values)))
        _touch(*(v for v in items if type(v) not in _FLAT))
        return function(items, **options)

    return checked


def _set(values: Iterable = ()) -> set:
    items = _budgeted(values)
    _hashing(items)
    return set(items)


def _dict(*args: Any, **names: Any) -> dict:
    pairs = [_budgeted(a) for a in args]
    for group in pairs:
        _hashing(p[0] for p in group if isinstance(p, (list, tuple)) and p)
    return dict(*pairs, **names)


def _hours_between(start: Any, end: Any) -> Decimal | None:
    """Hours from ``start`` to ``end`` (two datetimes), to the hundredth; empty if one is."""
    if start is None or end is None:
        return None
    return Decimal(str(round((end - start).total_seconds() / 3600, 2)))


BUILTINS: dict[str, Any] = {
    "None": None,
    "True": True,
    "False": False,
    "abs": abs,
    "bool": bool,
    "int": _to_int,
    "str": _to_str,
    "Decimal": _to_decimal,
    "len": len,
    "round": _round,
    "round_half_up": _round_half_up,
    "sum": _sum,
    "min": _extreme(min),
    "max": _extreme(max),
    "any": lambda values: any(_budgeted(values)),
    "all": lambda values: all(_budgeted(values)),
    "sorted": _sorted,
    "list": lambda values=(): _budgeted(values),
    "tuple": lambda values=(): tuple(_budgeted(values)),
    "dict": _dict,
    "set": _set,
    "enumerate": lambda values, start=0: list(enumerate(_budgeted(values), start)),
    "zip": lambda *values: list(zip(*(_budgeted(v) for v in values), strict=False)),
    "range": _range,
    "today": clock.today,
    "local_date": _local_date,
    "now": clock.now,
    "days": lambda n: timedelta(days=n),
    "hours_between": _hours_between,
    "date": date,
    "floor": _whole(math.floor),
    "ceil": _whole(math.ceil),
}
_GUARDS = {
    "__builtins__": BUILTINS,
    "_getattr_": _getattr,
    "_getitem_": _getitem,
    "_getiter_": _iterate,
    "_write_": _write,
    "_binop_": _binop,
    "_compare_": _compare,
    "_chain_": _chain,
    "_fstring_": _fstring,
    "_key_": _key,
    "_inplacevar_": _inplace,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
}


def _run(code: Any, names: Mapping[str, Any], seconds: float, mode: str) -> dict:
    """Run ``code`` over ``names`` with a fresh budget; returns its scope (and result)."""
    scope = {**_GUARDS, **names}
    token = _current.set(_Run(seconds))
    try:
        if mode == "eval":
            scope["__result__"] = eval(code, scope)  # noqa: S307 - restricted and guarded
        else:
            exec(code, scope)  # noqa: S102 - restricted and guarded
    finally:
        _current.reset(token)
    return scope


def plain(value: Any) -> Any:
    """``value`` as plain data, or SandboxError: no host objects leave the sandbox, and no
    result larger than MAX_SIZE items in all (shared lists counted each time they appear)."""
    budget = [MAX_SIZE]

    def copy(item: Any, depth: int) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            raise SandboxError(f"the result has more than {MAX_SIZE} items")
        if depth > 20:
            raise SandboxError("the result is nested too deeply")
        if isinstance(item, Row):
            item = dict(item)
        if isinstance(item, _PLAIN):
            _check_result_size(item)
            return item
        if isinstance(item, (list, tuple)):
            return [copy(v, depth + 1) for v in item]
        if isinstance(item, dict):
            return {str(k): copy(v, depth + 1) for k, v in item.items()}
        raise SandboxError(f"returned a {type(item).__name__}, which is not plain data")

    return copy(value, 0)


# ---- running --------------------------------------------------------------------------------

_ERRORS = (
    ArithmeticError,
    LookupError,
    TypeError,
    ValueError,
    NameError,
    AttributeError,
    RecursionError,
    MemoryError,
    AssertionError,
    UnboundLocalError,
)


def evaluate(expression: str, names: Mapping[str, Any]) -> Any:
    """The value of ``expression`` over ``names``; SandboxError if refused or stopped."""
    code = _compile(expression, "eval")
    try:
        return plain(_run(code, names, EXPRESSION_SECONDS, "eval")["__result__"])
    except SandboxError:
        raise
    except _ERRORS as exc:
        raise SandboxError(_describe(exc)) from None


def _describe(exc: BaseException) -> str:
    """An error's kind and message, never a traceback or a host object's repr."""
    if isinstance(exc, MemoryError):
        return "stopped: the code used too much memory"
    if isinstance(exc, RecursionError):
        return "stopped: the code calls itself too deeply"
    message = str(exc.args[0]) if exc.args and isinstance(exc.args[0], str) else ""
    return f"{type(exc).__name__}: {message[:200]}" if message else type(exc).__name__


def execute(source: str, names: Mapping[str, Any]) -> dict[str, Any]:
    """Run a script in a child process with CPU, memory and wall-clock limits; returns the
    names it set (plain data). SandboxError if refused, failed or stopped."""
    _compile(source, "exec")
    data = plain(dict(names))
    context = multiprocessing.get_context("forkserver")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(source, data, child), daemon=True)
    process.start()
    child.close()
    try:
        if not parent.poll(SCRIPT_SECONDS * 2 + 1):
            raise SandboxError(f"stopped: the script ran longer than {SCRIPT_SECONDS:g} s")
        outcome, value = parent.recv()
    except EOFError:
        raise SandboxError("stopped: the script used too much time or memory") from None
    finally:
        if process.is_alive():
            process.kill()
        process.join(1)
        parent.close()
    if outcome == "error":
        raise SandboxError(value)
    return value


def _child(source: str, data: dict, connection) -> None:
    """In the child process: limit ourselves, run, send back plain data or an error text."""
    resource.setrlimit(
        resource.RLIMIT_CPU, (math.ceil(SCRIPT_SECONDS), math.ceil(SCRIPT_SECONDS) + 1)
    )
    resource.setrlimit(resource.RLIMIT_AS, (_address_space() + SCRIPT_MEMORY,) * 2)
    names = {k: Row(v) if isinstance(v, dict) else v for k, v in data.items()}
    try:
        scope = _run(_compile(source, "exec"), names, SCRIPT_SECONDS, "exec")
        result = {
            k: plain(v)
            for k, v in scope.items()
            if k not in _GUARDS and (k not in names or v is not names[k]) and not callable(v)
        }
        connection.send(("ok", result))
    except SandboxError as exc:
        connection.send(("error", str(exc)))
    except _ERRORS as exc:
        connection.send(("error", _describe(exc)))
    finally:
        connection.close()


def _address_space() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0
