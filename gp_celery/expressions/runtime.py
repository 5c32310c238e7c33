"""The whitelisted functions, string methods and operators, with size guards.

Everything a compiled expression can run is listed here. Guards keep a hostile config from
allocating gigabytes (``'x' * 10**10``) or spinning on huge powers (``9 ** 9 ** 9``), both at
load (constant folding) and per event.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any, Final, NamedTuple

from gp_celery.expressions.errors import EvaluationError

MAX_SEQUENCE: Final = 1_000_000
"""Longest string or list that '*' may build."""

MAX_POWER_BITS: Final = 100_000
"""Largest integer (in bits) that '**' may build."""

EVAL_ERRORS: Final = (TypeError, ValueError, ArithmeticError)
"""What evaluating an expression may raise for bad data; EvaluationError is a ValueError."""


class Function(NamedTuple):
    impl: Callable[..., Any]
    min_args: int
    max_args: int | None  # None: any number


def _string(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise EvaluationError(f"{name} needs a string, got {type(value).__name__}")
    return value


def _lower(value: Any) -> str:
    return _string("lower()", value).lower()


def _upper(value: Any) -> str:
    return _string("upper()", value).upper()


def regex_call(kind: str, pattern: re.Pattern[str]) -> Callable[[Any], re.Match[str] | None]:
    """``re.match``/``re.search`` with a pattern compiled at load."""
    method = pattern.match if kind == "match" else pattern.search
    name = f"re.{kind}()"

    def call(text: Any) -> re.Match[str] | None:
        return method(_string(name, text))

    return call


def _dynamic_regex(kind: str) -> Callable[[Any, Any], re.Match[str] | None]:
    """``re.match``/``re.search`` with a pattern known only per event (re caches it)."""
    name = f"re.{kind}()"
    method = re.match if kind == "match" else re.search

    def call(pattern: Any, text: Any) -> re.Match[str] | None:
        try:
            return method(_string(name, pattern), _string(name, text))
        except re.error as error:
            raise EvaluationError(f"{name}: bad regular expression: {error}") from None

    return call


FUNCTIONS: Final[dict[str, Function]] = {
    "re.match": Function(_dynamic_regex("match"), 2, 2),
    "re.search": Function(_dynamic_regex("search"), 2, 2),
    "len": Function(len, 1, 1),
    "int": Function(int, 1, 2),
    "float": Function(float, 1, 1),
    "str": Function(str, 1, 1),
    "bool": Function(bool, 1, 1),
    "lower": Function(_lower, 1, 1),
    "upper": Function(_upper, 1, 1),
    "abs": Function(abs, 1, 1),
    "round": Function(round, 1, 2),
    "min": Function(min, 1, None),
    "max": Function(max, 1, None),
    "sum": Function(sum, 1, 2),
}

METHODS: Final[dict[str, tuple[int, int]]] = {
    "startswith": (1, 3),
    "endswith": (1, 3),
    "lower": (0, 0),
    "upper": (0, 0),
    "strip": (0, 1),
    "split": (0, 2),
}
"""String methods callable on values, with their (min, max) argument counts."""


def method_call(name: str) -> Callable[..., Any]:
    """A string method as a function of (target, *args), refusing non-string targets."""
    unbound = getattr(str, name)
    label = f"'.{name}()'"
    affix = name in ("startswith", "endswith")

    def call(target: Any, *args: Any) -> Any:
        if affix and args and isinstance(args[0], list):  # Python wants a tuple of choices
            args = (tuple(args[0]), *args[1:])
        return unbound(_string(label, target), *args)

    return call


def _check_repeat(sequence: Any, times: Any) -> None:
    repeat = isinstance(sequence, (str, list)) and isinstance(times, int)
    if repeat and len(sequence) * times > MAX_SEQUENCE:
        raise EvaluationError(f"'*' would build more than {MAX_SEQUENCE} items")


def _multiply(left: Any, right: Any) -> Any:
    _check_repeat(left, right)
    _check_repeat(right, left)
    return left * right


def _power(base: Any, exponent: Any) -> Any:
    integers = isinstance(base, int) and isinstance(exponent, int) and exponent > 0
    if integers and abs(base) > 1 and base.bit_length() * exponent > MAX_POWER_BITS:
        raise EvaluationError("'**' result is too large")
    result = base**exponent
    if isinstance(result, complex):
        raise EvaluationError("'**' result is a complex number")
    return result


def _modulo(left: Any, right: Any) -> Any:
    if isinstance(left, str):
        raise EvaluationError("'%' string formatting is not supported")
    return left % right


BINARY: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": _multiply,
    "/": operator.truediv,
    "//": operator.floordiv,
    "%": _modulo,
    "**": _power,
}

UNARY: Final[dict[str, Callable[[Any], Any]]] = {"-": operator.neg, "+": operator.pos}


def _contains(left: Any, right: Any) -> bool:
    return left in right


def _not_contains(left: Any, right: Any) -> bool:
    return left not in right


COMPARISONS: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "in": _contains,
    "not in": _not_contains,
    "is": operator.is_,
    "is not": operator.is_not,
}

ORDERING: Final = frozenset({"<", "<=", ">", ">="})
"""Comparisons that need real values: a missing field there is an evaluation error."""
