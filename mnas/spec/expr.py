"""`${...}` expressions in specs: arithmetic, comparisons, indexing and a few pure functions
over spec values. Parsed with `ast` and evaluated by walking a whitelist of node types, so a
spec can compute a width but can never call, import or reach anything else."""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

from mnas.errors import suggest
from mnas.ops.shapes import round_half_up  # the `round` of expressions is the width rule's
from mnas.spec.limits import (MAX_EVAL_WORK, MAX_EXPR_DEPTH, MAX_INT_BITS, MAX_VALUE_SIZE,
                              TooDeep, int_problem, size_problem, value_size)

_TEMPLATE = re.compile(r"\$\{([^{}]*)\}")


class ExprError(Exception):
    """An expression failed; the caller adds the file, line and field."""


class LimitError(ExprError):
    """Evaluating an expression would cross a limit of mnas.spec.limits; the message is a
    phrase ('would build ...') that follows the expression."""


def _range(*args):
    bounds = range(*args)
    count = max(0, (bounds.stop - bounds.start + bounds.step - (1 if bounds.step > 0 else -1))
                // bounds.step)
    if count > MAX_VALUE_SIZE:
        raise LimitError(f"would build {size_problem(count)}")
    return list(bounds)


def _sum(items, start=0):
    numbers = list(items) + [start]
    if not all(isinstance(v, (int, float)) for v in numbers):
        raise ValueError("sum adds numbers only")
    return sum(numbers[:-1], start)


class _Work:
    """Steps left for evaluating one spec: each expression node evaluated and each item of a
    string or list built costs one, so no spec can keep the evaluator busy for long however
    often its expressions repeat."""

    __slots__ = ("left",)

    def __init__(self, steps: int):
        self.left = steps

    def spend(self, steps: int) -> None:
        self.left -= steps
        if self.left < 0:
            raise ExprError(f"evaluating the spec takes more than {MAX_EVAL_WORK:,} steps "
                            f"(limit: evaluation work {MAX_EVAL_WORK:,} steps)")


_WORK: ContextVar[_Work | None] = ContextVar("mnas_spec_work", default=None)


@contextmanager
def work_budget() -> Iterator[None]:
    """Evaluations inside share one budget of MAX_EVAL_WORK steps (one spec's expansion);
    outside any, each evaluation has its own."""
    token = _WORK.set(_Work(MAX_EVAL_WORK))
    try:
        yield
    finally:
        _WORK.reset(token)


def spend(steps: int) -> None:
    """Charge work done outside an expression (a field's list built item by item)."""
    work = _WORK.get()
    if work is not None:
        work.spend(steps)


FUNCTIONS: dict[str, Callable] = {
    "len": len, "range": _range, "round": round_half_up,
    "min": min, "max": max, "int": int, "float": float, "abs": abs, "sum": _sum, "str": str,
    "floor": math.floor, "ceil": math.ceil,
}


def _bounded(value):
    """`value` when it is within the limits on values (its size is charged as work), else a
    LimitError."""
    kind = type(value)
    if kind is int:
        if value.bit_length() > MAX_INT_BITS:
            raise LimitError(f"builds {int_problem(value.bit_length())}")
    elif kind is str or kind is list:
        size = value_size(value)
        if size > MAX_VALUE_SIZE:
            raise LimitError(f"builds {size_problem(size, exact=False)}")
        spend(size)
    return value


def _mul(a, b):
    """Repetition is checked before it builds anything."""
    seq, count = (a, b) if isinstance(a, (str, list)) else (b, a)
    if isinstance(seq, (str, list)) and isinstance(count, int) and count > 0:
        size = value_size(seq) * count
        if size > MAX_VALUE_SIZE:
            raise LimitError(f"would build {size_problem(size)}")
    return a * b


def _pow(a, b):
    """An integer power is refused before it is computed when it would be clearly too large:
    |a| ** b has floor(b * log2 |a|) + 1 bits (exact up to float rounding, hence the margin;
    a result near the limit is computed and checked exactly)."""
    if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1:
        bits = math.floor(b * math.log2(abs(a))) + 1
        if bits > MAX_INT_BITS + 1:
            raise LimitError(f"would build {int_problem(bits)}")
    return a ** b


def _mod(a, b):
    if isinstance(a, str):
        raise ExprError("'%' formatting of strings is not allowed; use str() and +")
    return a % b


_BINOPS = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: _mul, ast.Pow: _pow,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: _mod,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_}
_COMPARE = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
    ast.Is: operator.is_, ast.IsNot: operator.is_not,
}
_LEAVES = (ast.operator, ast.unaryop, ast.cmpop, ast.boolop, ast.expr_context)

Env = Mapping[str, Any]
Compiled = Callable[[Env], Any]


def _depth(tree: ast.AST) -> int:
    """Nesting of the syntax tree, measured without recursion (the tree may be deep)."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in ast.iter_child_nodes(node)
                     if not isinstance(child, _LEAVES))
    return deepest


def _compile(node: ast.AST) -> Compiled:
    if isinstance(node, ast.Constant):
        value = node.value
        return lambda env: value
    if isinstance(node, ast.Name):
        name = node.id

        def lookup(env: Env):
            if name in env:
                return env[name]
            if name in FUNCTIONS:
                raise ExprError(f"'{name}' is a function; call it as {name}(...)")
            raise ExprError(f"unknown name '{name}'{suggest(name, list(env))}")
        return lookup
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_compile(e) for e in node.elts]
        return lambda env: _bounded([f(env) for f in items])
    if isinstance(node, ast.BinOp):
        left, right = _compile(node.left), _compile(node.right)
        fn = _BINOPS.get(type(node.op))
        if fn is None:
            raise ExprError(f"operator {type(node.op).__name__} is not allowed")
        return lambda env: _bounded(fn(left(env), right(env)))
    if isinstance(node, ast.UnaryOp):
        fn, operand = _UNARY.get(type(node.op)), _compile(node.operand)
        if fn is None:
            raise ExprError(f"operator {type(node.op).__name__} is not allowed")
        return lambda env: fn(operand(env))
    if isinstance(node, ast.BoolOp):
        values = [_compile(v) for v in node.values]
        if isinstance(node.op, ast.And):
            def all_of(env):
                result = True
                for v in values:
                    result = v(env)
                    if not result:
                        return result
                return result
            return all_of

        def any_of(env):
            result = False
            for v in values:
                result = v(env)
                if result:
                    return result
            return result
        return any_of
    if isinstance(node, ast.Compare):
        left = _compile(node.left)
        if any(type(op) not in _COMPARE for op in node.ops):
            raise ExprError(f"comparison in '{ast.unparse(node)}' is not allowed")
        ops = [_COMPARE[type(op)] for op in node.ops]
        rights = [_compile(c) for c in node.comparators]

        def compare(env):
            a = left(env)
            for op, right in zip(ops, rights):
                b = right(env)
                if not op(a, b):
                    return False
                a = b
            return True
        return compare
    if isinstance(node, ast.IfExp):
        test, body, orelse = _compile(node.test), _compile(node.body), _compile(node.orelse)
        return lambda env: body(env) if test(env) else orelse(env)
    if isinstance(node, ast.Subscript):
        value = _compile(node.value)
        if isinstance(node.slice, ast.Slice):
            parts = [_compile(p) if p is not None else (lambda env: None)
                     for p in (node.slice.lower, node.slice.upper, node.slice.step)]
            return lambda env: value(env)[slice(*(p(env) for p in parts))]
        index = _compile(node.slice)
        return lambda env: value(env)[index(env)]
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            shown = ast.unparse(node.func)
            raise ExprError(f"unknown function '{shown}'{suggest(shown, FUNCTIONS)}; "
                            f"allowed: {', '.join(sorted(FUNCTIONS))}")
        if node.keywords:
            raise ExprError("keyword arguments are not allowed")
        fn, args = FUNCTIONS[node.func.id], [_compile(a) for a in node.args]
        return lambda env: _bounded(fn(*(a(env) for a in args)))
    raise ExprError(f"'{ast.unparse(node)}' is not allowed in an expression")


@lru_cache(maxsize=4096)
def compile_expr(source: str) -> tuple[Compiled, int]:
    """Parse and compile once; evaluation of a cached expression is a few closure calls.
    Returns the compiled expression and its number of nodes (the steps one evaluation costs
    at least)."""
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as err:
        raise ExprError(f"invalid expression '{_shown(source)}': {err.msg}") from None
    except (RecursionError, MemoryError):
        tree = None
    depth = _depth(tree.body) if tree is not None else None
    if depth is None or depth > MAX_EXPR_DEPTH:
        nested = f"nested {depth:,} deep" if depth else "nested too deep to parse"
        raise ExprError(f"expression '{_shown(source)}' is {nested} "
                        f"(limit: expression depth {MAX_EXPR_DEPTH})")
    return _compile(tree.body), sum(1 for _ in ast.walk(tree.body))


def _shown(source: str, width: int = 60) -> str:
    source = source.strip()
    return source if len(source) <= width else source[:width - 3] + "..."


def _run(source: str, env: Env):
    work = _WORK.get()
    if work is None:
        with work_budget():
            return _run(source, env)
    compiled, steps = compile_expr(source)
    work.left -= steps
    if work.left < 0:
        work.spend(0)
    try:
        return compiled(env)
    except LimitError as err:
        raise ExprError(f"'${{{_shown(source)}}}' {err}") from None
    except TooDeep as err:
        raise ExprError(f"'${{{_shown(source)}}}' would build {err}") from None
    except ExprError:
        raise
    except (TypeError, ValueError, IndexError, KeyError, ZeroDivisionError, OverflowError) as err:
        raise ExprError(f"'${{{_shown(source)}}}' failed: {type(err).__name__}: {err}") from None


def is_template(value: Any) -> bool:
    return isinstance(value, str) and "${" in value


def render(value: str, env: Env) -> Any:
    """'${expr}' alone gives the expression's value (any type); text around it interpolates."""
    whole = _TEMPLATE.fullmatch(value)
    if whole:
        return _run(whole.group(1), env)
    if "${" in value and not _TEMPLATE.search(value):
        raise ExprError(f"unclosed '${{' in '{_shown(value)}'")
    parts, size, end = [], 0, 0
    for match in _TEMPLATE.finditer(value):
        text = str(_run(match.group(1), env))
        spend(len(text))
        parts += [value[end:match.start()], text]
        size += match.start() - end + len(text)
        if size > MAX_VALUE_SIZE:
            raise ExprError(f"'{_shown(value)}' builds {size_problem(size, exact=False)}")
        end = match.end()
    if size + len(value) - end > MAX_VALUE_SIZE:
        raise ExprError(f"'{_shown(value)}' builds {size_problem(size + len(value) - end)}")
    return "".join(parts) + value[end:]
