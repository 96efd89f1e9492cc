"""Built-in tool: arithmetic by walking the expression's syntax tree, never ``eval``.

Only numbers, the operators ``+ - * / // % **``, parentheses and a short list of
math functions and constants are accepted; anything else (names, attributes,
subscripts, strings, lambdas, comprehensions) is refused with a message saying
what is allowed. Sizes are bounded so ``9**9**9`` cannot stall the agent.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable

from agentkit.agents.tool import tool

MAX_LENGTH = 500
MAX_DEPTH = 100
MAX_EXPONENT = 1000
MAX_INT_BITS = 4096  # about 1233 decimal digits

Number = int | float

FUNCTIONS: dict[str, Callable[..., Number]] = {
    "abs": abs,
    "round": round,
    "floor": math.floor,
    "ceil": math.ceil,
    "sqrt": math.sqrt,
    "exp": math.exp,
    "log": math.log,
    "log10": math.log10,
    "log2": math.log2,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "asin": math.asin,
    "acos": math.acos,
    "atan": math.atan,
    "min": min,
    "max": max,
}
CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "tau": math.tau}

_BINARY: dict[type[ast.operator], tuple[str, Callable[[Number, Number], Number]]] = {
    ast.Add: ("+", operator.add),
    ast.Sub: ("-", operator.sub),
    ast.Mult: ("*", operator.mul),
    ast.Div: ("/", operator.truediv),
    ast.FloorDiv: ("//", operator.floordiv),
    ast.Mod: ("%", operator.mod),
    ast.Pow: ("**", operator.pow),
}
_UNARY: dict[type[ast.unaryop], Callable[[Number], Number]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_REFUSED: dict[type[ast.AST], str] = {
    ast.Attribute: "attribute access (a.b) is not allowed",
    ast.Subscript: "indexing and slicing (a[b]) are not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.Compare: "comparisons are not allowed; the calculator only computes numbers",
    ast.BoolOp: "and/or are not allowed; the calculator only computes numbers",
    ast.JoinedStr: "strings are not allowed",
}


class CalculatorError(ValueError):
    """An expression the calculator refuses or cannot compute."""


def evaluate(expression: str) -> Number:
    """The value of an arithmetic expression such as ``sqrt(2) * (3 + 4) ** 2``."""
    if len(expression) > MAX_LENGTH:
        raise CalculatorError(f"expression is {len(expression)} characters long; the limit is {MAX_LENGTH}")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as error:
        raise CalculatorError(f"not a valid expression: {error.msg}") from None
    return _eval(tree.body, 0)


def _eval(node: ast.AST, depth: int) -> Number:
    if depth > MAX_DEPTH:
        raise CalculatorError(f"expression is nested more than {MAX_DEPTH} levels deep")
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            kind = "strings are" if isinstance(node.value, str | bytes) else f"{type(node.value).__name__} values are"
            raise CalculatorError(f"{kind} not allowed; use numbers only")
        return node.value
    if isinstance(node, ast.Name):
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        hint = f"; call it as {node.id}(...)" if node.id in FUNCTIONS else ""
        raise CalculatorError(f"unknown name '{node.id}'{hint}; allowed constants: {', '.join(CONSTANTS)}")
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _checked(_UNARY[type(node.op)](_eval(node.operand, depth + 1)))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left, depth + 1), _eval(node.right, depth + 1)
        if isinstance(node.op, ast.Pow):
            _check_power(left, right)
        symbol, fn = _BINARY[type(node.op)]
        return _apply(fn, left, right, label=f"'{symbol}'")
    if isinstance(node, ast.Call):
        return _call(node, depth)
    if isinstance(node, ast.BinOp | ast.UnaryOp):
        raise CalculatorError(f"operator {type(node.op).__name__} is not allowed; use + - * / // % **")
    reason = _REFUSED.get(type(node), f"{type(node).__name__} is not allowed in a calculator expression")
    raise CalculatorError(reason)


def _call(node: ast.Call, depth: int) -> Number:
    if not isinstance(node.func, ast.Name):
        raise CalculatorError(_REFUSED.get(type(node.func), "only the listed functions can be called"))
    name = node.func.id
    if name not in FUNCTIONS:
        raise CalculatorError(f"function '{name}' is not allowed; allowed functions: {', '.join(FUNCTIONS)}")
    if node.keywords or any(isinstance(arg, ast.Starred) for arg in node.args):
        raise CalculatorError(f"{name}() takes plain positional arguments only")
    args = [_eval(arg, depth + 1) for arg in node.args]
    return _apply(FUNCTIONS[name], *args, label=f"{name}()")


def _apply(fn: Callable[..., Number], *args: Number, label: str) -> Number:
    try:
        return _checked(fn(*args))
    except ZeroDivisionError:
        raise CalculatorError("division by zero") from None
    except OverflowError:
        raise CalculatorError(f"{label}: result is too large") from None
    except (ValueError, TypeError) as error:
        raise CalculatorError(f"{label}: {error}") from None


def _check_power(base: Number, exponent: Number) -> None:
    if abs(exponent) > MAX_EXPONENT:
        raise CalculatorError(f"exponent {exponent} is too large; |exponent| must be at most {MAX_EXPONENT}")
    bits = abs(base).bit_length() if isinstance(base, int) else 0  # float powers overflow on their own
    if isinstance(exponent, int) and exponent > 0 and (bits - 1) * exponent > MAX_INT_BITS:
        raise CalculatorError(f"a {bits}-bit number to the power {exponent} is too large (over {MAX_INT_BITS} bits)")


def _checked(value: object) -> Number:
    if isinstance(value, complex):
        raise CalculatorError("the result is a complex number, which is not supported")
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise CalculatorError(f"result is too large (over {MAX_INT_BITS} bits)")
    if isinstance(value, float) and math.isinf(value):
        raise CalculatorError("result is too large (overflow to infinity)")
    assert isinstance(value, int | float)
    return value


@tool
def calculator(expression: str) -> str:
    """Compute an arithmetic expression exactly as written.

    Supports numbers, + - * / // % ** and parentheses, the constants pi, e, tau
    and the functions abs, round, floor, ceil, sqrt, exp, log, log10, log2, sin,
    cos, tan, asin, acos, atan, min, max.

    Args:
        expression: the arithmetic expression, e.g. "sqrt(2) * (3 + 4) ** 2"
    """
    return repr(evaluate(expression))
