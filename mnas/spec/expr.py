"""`${...}` expressions in specs: arithmetic, comparisons, indexing and a few pure functions
over spec values. Parsed with `ast` and evaluated by walking a whitelist of node types, so a
spec can compute a width but can never call, import or reach anything else."""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from mnas.errors import suggest
from mnas.ops.shapes import round_half_up  # the `round` of expressions is the width rule's

_TEMPLATE = re.compile(r"\$\{([^{}]*)\}")


class ExprError(Exception):
    """An expression failed; the caller adds the file, line and field."""


FUNCTIONS: dict[str, Callable] = {
    "len": len, "range": lambda *a: list(range(*a)), "round": round_half_up,
    "min": min, "max": max, "int": int, "float": float, "abs": abs, "sum": sum, "str": str,
    "floor": math.floor, "ceil": math.ceil,
}

_BINOPS = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_}
_COMPARE = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
    ast.Is: operator.is_, ast.IsNot: operator.is_not,
}

Env = Mapping[str, Any]
Compiled = Callable[[Env], Any]


def _pow(a, b):
    if isinstance(b, (int, float)) and abs(b) > 64:
        raise ExprError("exponent too large")
    return a ** b


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
        return lambda env: [f(env) for f in items]
    if isinstance(node, ast.BinOp):
        left, right = _compile(node.left), _compile(node.right)
        fn = _pow if isinstance(node.op, ast.Pow) else _BINOPS.get(type(node.op))
        if fn is None:
            raise ExprError(f"operator {type(node.op).__name__} is not allowed")
        return lambda env: fn(left(env), right(env))
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
        return lambda env: fn(*(a(env) for a in args))
    raise ExprError(f"'{ast.unparse(node)}' is not allowed in an expression")


@lru_cache(maxsize=4096)
def compile_expr(source: str) -> Compiled:
    """Parse and compile once; evaluation of a cached expression is a few closure calls."""
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as err:
        raise ExprError(f"invalid expression '{source}': {err.msg}") from None
    return _compile(tree.body)


def _run(source: str, env: Env):
    compiled = compile_expr(source)
    try:
        return compiled(env)
    except ExprError:
        raise
    except (TypeError, ValueError, IndexError, KeyError, ZeroDivisionError, OverflowError) as err:
        raise ExprError(f"'${{{source}}}' failed: {type(err).__name__}: {err}") from None


def is_template(value: Any) -> bool:
    return isinstance(value, str) and "${" in value


def render(value: str, env: Env) -> Any:
    """'${expr}' alone gives the expression's value (any type); text around it interpolates."""
    whole = _TEMPLATE.fullmatch(value)
    if whole:
        return _run(whole.group(1), env)
    if "${" in value and not _TEMPLATE.search(value):
        raise ExprError(f"unclosed '${{' in '{value}'")
    return _TEMPLATE.sub(lambda m: str(_run(m.group(1), env)), value)
