"""A safe arithmetic evaluator for the built-in calculator tool; never ``eval``.

The expression is parsed with ``ast`` and walked: numbers, ``+ - * / // % **``, unary
``+ -``, parentheses, the constants ``pi``, ``e``, ``tau`` and a few ``math`` functions.
Anything else (names, attributes, subscripts, calls of other things, strings, comprehensions)
is rejected. Sizes are bounded so one expression cannot exhaust CPU or memory: the text
length, the syntax-tree size, exponents, and the magnitude of every intermediate integer.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

MAX_EXPRESSION_CHARS = 200
MAX_NODES = 100
MAX_EXPONENT = 1000
# Integers beyond this many bits are refused (a 2**1000 result is fine; 9**9**9 is not).
MAX_INT_BITS = 4096


class CalculatorError(ValueError):
    """The expression is not allowed or cannot be computed; the text says why."""


_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_CONSTANTS = {"pi": math.pi, "e": math.e, "tau": math.tau}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sqrt": math.sqrt, "abs": abs, "round": round, "floor": math.floor, "ceil": math.ceil,
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "asin": math.asin, "acos": math.acos,
    "atan": math.atan, "log": math.log, "log10": math.log10, "log2": math.log2,
    "exp": math.exp, "min": min, "max": max, "hypot": math.hypot, "degrees": math.degrees,
    "radians": math.radians,
}


def evaluate(expression: str) -> int | float:
    """The value of ``expression``; ``CalculatorError`` when it is not allowed."""
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise CalculatorError(f"expression longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError):
        raise CalculatorError("not an arithmetic expression") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise CalculatorError(f"expression has more than {MAX_NODES} parts")
    try:
        return _bounded(_eval(tree.body))
    except (ZeroDivisionError, OverflowError, ValueError, TypeError) as exc:
        if isinstance(exc, CalculatorError):
            raise
        raise CalculatorError(f"cannot compute: {exc}") from None


def _eval(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow):
            _check_power(left, right)
        return _bounded(_BINARY[type(node.op)](left, right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        function = _FUNCTIONS.get(node.func.id)
        if function is not None:
            return _bounded(function(*[_eval(arg) for arg in node.args]))
    raise CalculatorError(f"'{_describe(node)}' is not allowed; use numbers, + - * / // % **, "
                          f"parentheses and {', '.join(sorted(_FUNCTIONS))}")


def _check_power(base: Any, exponent: Any) -> None:
    if abs(exponent) > MAX_EXPONENT:
        raise CalculatorError(f"exponent {exponent} is larger than {MAX_EXPONENT}")
    if (isinstance(base, int) and isinstance(exponent, int) and exponent > 0
            and base.bit_length() * exponent > MAX_INT_BITS):
        raise CalculatorError("result too large")


def _bounded(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CalculatorError("result is not a number")
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise CalculatorError("result too large")
    if isinstance(value, float) and not math.isfinite(value):
        raise CalculatorError("result is not finite")
    return value


def _describe(node: ast.AST) -> str:
    try:
        return ast.unparse(node)[:40]
    except Exception:  # only for a message: the node's type will do
        return type(node).__name__
