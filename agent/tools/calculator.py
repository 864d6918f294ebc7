"""Safe arithmetic: an AST walk over numbers and operators, with bounded sizes. No eval."""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import Field

from agent.tools.registry import ToolError, tool

MAX_EXPRESSION_CHARS = 200
MAX_NODES = 100
MAX_EXPONENT = 1000
MAX_INT_DIGITS = 1000


class CalculatorError(ToolError):
    """The one error type `evaluate` raises, whatever the input."""


_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}


def _check_size(value: int | float) -> int | float:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CalculatorError("result is not a finite number")
    elif value.bit_length() > MAX_INT_DIGITS * 3.33:
        raise CalculatorError(f"result has more than {MAX_INT_DIGITS} digits")
    return value


def _eval(node: ast.AST) -> int | float:
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        value: int | float = node.value  # type: ignore[assignment]
        return _check_size(value)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _check_size(_UNARY[type(node.op)](_eval(node.operand)))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow):
            if abs(right) > MAX_EXPONENT:
                raise CalculatorError(f"exponent larger than {MAX_EXPONENT}")
            if isinstance(left, int) and isinstance(right, int) and right >= 0:
                if left.bit_length() * right > MAX_INT_DIGITS * 3.33:
                    raise CalculatorError(f"result has more than {MAX_INT_DIGITS} digits")
        try:
            result = _BINARY[type(node.op)](left, right)
        except ZeroDivisionError:
            raise CalculatorError("division by zero") from None
        except OverflowError:
            raise CalculatorError("result too large") from None
        if isinstance(result, complex):
            raise CalculatorError("result is not a real number")
        return _check_size(result)
    raise CalculatorError(f"unsupported element: {type(node).__name__}")


def evaluate(expression: str) -> int | float:
    """Evaluate an arithmetic expression; raises only CalculatorError."""
    if not isinstance(expression, str):
        raise CalculatorError("expression must be a string")
    text = expression.strip().replace("^", "**").replace("\u00d7", "*").replace("\u00f7", "/")
    if not text:
        raise CalculatorError("empty expression")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise CalculatorError(f"expression longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise CalculatorError("not an arithmetic expression") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise CalculatorError(f"expression has more than {MAX_NODES} elements")
    try:
        result = _eval(tree)
    except RecursionError:
        raise CalculatorError("expression nested too deeply") from None
    if isinstance(result, float) and result.is_integer() and abs(result) < 2**53:
        return int(result)
    return result


@tool(pure=True, timeout=2.0)
async def calculator(
    expression: Annotated[
        str,
        Field(
            min_length=1,
            max_length=MAX_EXPRESSION_CHARS,
            description="Arithmetic with + - * / // % ** and parentheses, e.g. '12*34'",
        ),
    ],
) -> dict[str, Any]:
    """Evaluate an arithmetic expression exactly (integers stay exact)."""
    return {"expression": expression, "result": evaluate(expression)}
