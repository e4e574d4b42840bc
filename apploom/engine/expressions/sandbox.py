"""The sandbox for expressions (formulas, conditions, guards) and admin scripts.

RestrictedPython compiles the code and routes every attribute read, item read,
iteration and write through guards of ours; before that, our own checks refuse
anything outside a small allow-list of syntax, deep or huge sources, and format
specifications. The guards:

* attributes: only a row's fields and an allow-list of methods of plain types;
* iteration: a step budget (and a deadline) shared by loops, comprehensions and
  every curated function that iterates, so ``sorted``/``tuple``/``zip`` cannot
  loop in C past it;
* arithmetic: ``*``, ``**``, ``<<`` and ``%`` check the size of what they would
  build before building it, so one C call cannot run away;
* results: plain data only (numbers, text, dates, lists and dicts of them).

Expressions run in the calling process. Scripts run in a child process from a
fork server, under ``RLIMIT_CPU`` and ``RLIMIT_AS`` and a wall-clock watchdog in
the parent, so a runaway script never holds a web worker.
"""

from __future__ import annotations

import ast
import math
import multiprocessing
import resource
import time
from contextvars import ContextVar
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from types import GeneratorType
from typing import Any, Iterable, Literal, Mapping

from RestrictedPython import compile_restricted
from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence
from RestrictedPython.transformer import RestrictingNodeTransformer

from apploom.engine import clock
from apploom.engine.errors import SandboxError

MAX_EXPRESSION = 2_000  # characters
MAX_SCRIPT = 20_000
MAX_NESTING = 60  # brackets and blocks
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
        raise SandboxError("the code must be text")
    if len(source) > limit:
        raise SandboxError(f"the code is longer than {limit} characters")
    if _nesting(source) > MAX_NESTING:
        raise SandboxError(f"the code is nested more than {MAX_NESTING} levels deep")
    try:
        tree = ast.parse(source.strip() if mode == "eval" else source, mode=mode)
    except SyntaxError as exc:
        what = "expression" if mode == "eval" else "script"
        raise SandboxError(f"is not a valid {what} ({exc.msg}, line {exc.lineno})") from None
    except (RecursionError, MemoryError, ValueError):
        raise SandboxError("the code is too deeply nested or too large") from None
    for node in ast.walk(tree):
        name = (
            getattr(node, "id", None)
            or getattr(node, "attr", None)
            or getattr(node, "name", None)
            or getattr(node, "arg", None)
        )
        if isinstance(name, str) and name.startswith("_"):
            raise SandboxError(f"'{name}': names starting with _ are not allowed")
        if not isinstance(node, allowed):
            raise SandboxError(f"uses {type(node).__name__}, which is not allowed here")
        if isinstance(node, ast.FormattedValue) and (
            node.format_spec is not None or node.conversion != -1
        ):
            raise SandboxError("format specifications are not allowed; use round() or str()")
        if isinstance(node, ast.Constant) and isinstance(node.value, bytes):
            raise SandboxError("bytes are not allowed; use text")
        if isinstance(node, ast.FunctionDef) and node.decorator_list:
            raise SandboxError("decorators are not allowed")
    return tree


class _Policy(RestrictingNodeTransformer):
    """RestrictedPython's rewriting, plus size checks on the operators that can explode."""

    _CHECKED = {ast.Mult: "*", ast.Pow: "**", ast.LShift: "<<", ast.Mod: "%"}

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        visited = super().visit_BinOp(node)
        if not isinstance(visited, ast.BinOp):  # RestrictedPython hands the node back
            raise SandboxError("is not allowed: an operator was rewritten unexpectedly")
        node = visited
        symbol = self._CHECKED.get(type(node.op))
        if symbol is None:
            return node
        call = ast.Call(
            func=ast.Name("_binop_", ast.Load()),
            args=[ast.Constant(symbol), node.left, node.right],
            keywords=[],
        )
        return ast.fix_missing_locations(ast.copy_location(call, node))

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        """Decimal literals stay exact: 0.1 means Decimal('0.1'), as money needs."""
        visited = super().visit_Constant(node)
        if not isinstance(visited, ast.Constant):  # RestrictedPython hands the node back
            raise SandboxError("is not allowed: a constant was rewritten unexpectedly")
        node = visited
        if not isinstance(node.value, float):
            return node
        call = ast.Call(
            func=ast.Name("Decimal", ast.Load()), args=[ast.Constant(repr(node.value))], keywords=[]
        )
        return ast.fix_missing_locations(ast.copy_location(call, node))


@lru_cache(maxsize=4096)
def _compile(source: str, mode: Literal["eval", "exec"]):
    _check(source, mode)
    try:
        return compile_restricted(
            source.strip() if mode == "eval" else source, "<sandbox>", mode, policy=_Policy
        )
    except SyntaxError as exc:
        raise SandboxError(f"is not allowed: {exc}") from None


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
    if isinstance(obj, str) and name in _SIZED_TEXT:
        return _sized(obj, name, method)
    return method


# Text methods whose result can be far larger than their inputs: checked before they run.
_SIZED_TEXT = frozenset({"center", "ljust", "rjust", "zfill", "replace", "join"})


def _sized(text: str, name: str, method: Any) -> Any:
    def checked(*args: Any) -> Any:
        if name == "join":
            parts = _budgeted(args[0])
            size = sum(len(p) for p in parts if isinstance(p, str)) + len(text) * len(parts)
            args = (parts,)
        elif name == "replace":
            old, new = str(args[0]), str(args[1])
            size = len(text) + (text.count(old) if old else len(text) + 1) * len(new)
        else:
            size = args[0] if args and isinstance(args[0], int) else 0
        if size > MAX_SIZE:
            raise SandboxError(f"the result would be longer than {MAX_SIZE}")
        _spend(size)
        return method(*args)

    return checked


def _spend(size: int) -> None:
    """Charge the run for building something of ``size`` items (a step per 10)."""
    if size > 100:
        _current.get().tick(size // 10)


def _getitem(obj: Any, key: Any) -> Any:
    if not isinstance(obj, (list, tuple, dict, str, Row)):
        raise SandboxError(f"cannot index {type(obj).__name__}")
    if isinstance(key, slice) and key.step is not None and key.step == 0:
        raise SandboxError("a slice step cannot be zero")
    return obj[key]


def _write(obj: Any) -> Any:
    if isinstance(obj, (list, dict)):
        return obj
    raise SandboxError(f"cannot change a {type(obj).__name__}")


def _binop(symbol: str, left: Any, right: Any) -> Any:
    _check_size(symbol, left, right)
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
    if symbol in ("*", "**", "<<", "%"):
        return _binop(symbol, left, right)
    operations = {
        "+": lambda: left + right,
        "-": lambda: left - right,
        "/": lambda: left / right,
        "//": lambda: left // right,
    }
    if symbol not in operations:
        raise SandboxError(f"'{op}' is not allowed")
    result = operations[symbol]()
    _check_result_size(result)
    return result


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
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise SandboxError("the number is too large to write out")
    if not isinstance(value, _PLAIN):
        raise SandboxError(f"str() of a {type(value).__name__} is not allowed")
    return str(value)


def _to_decimal(value: Any = 0) -> Decimal:
    if isinstance(value, str) and len(value) > 60:
        raise SandboxError("Decimal() takes at most 60 characters here")
    return Decimal(str(value)) if isinstance(value, float) else Decimal(value)


def _check_size(symbol: str, left: Any, right: Any) -> None:
    if symbol == "%" and isinstance(left, str):
        raise SandboxError("%-formatting of text is not allowed; use + or str()")
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
    "sum": _sum,
    "min": lambda *values, **kw: min(_present(_budgeted(_one_or_many(values))), **kw),
    "max": lambda *values, **kw: max(_present(_budgeted(_one_or_many(values))), **kw),
    "any": lambda values: any(_budgeted(values)),
    "all": lambda values: all(_budgeted(values)),
    "sorted": lambda values, key=None, reverse=False: sorted(
        _budgeted(values), key=key, reverse=reverse
    ),
    "list": lambda values=(): _budgeted(values),
    "tuple": lambda values=(): tuple(_budgeted(values)),
    "dict": lambda *args, **kw: dict(*(_budgeted(a) for a in args), **kw),
    "set": lambda values=(): set(_budgeted(values)),
    "enumerate": lambda values, start=0: list(enumerate(_budgeted(values), start)),
    "zip": lambda *values: list(zip(*(_budgeted(v) for v in values), strict=False)),
    "range": _range,
    "today": clock.today,
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
