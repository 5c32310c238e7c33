"""Compiled nodes: each is a closure over its children, built once at load.

A missing field is the ``MISSING`` sentinel only where a consumer knows what to do with it:
truth tests see it as false, ``==``, ``!=``, ``is``, ``in`` and list literals see GambolPutty's
``False``, and everything that needs a real value (ordering, arithmetic, calls, methods) raises
an EvaluationError naming the field. Expressions (``missing_ok=False``) raise at the look-up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from gp_celery.event import MISSING, Event, FieldPath, field_path
from gp_celery.expressions.errors import MAX_DEPTH, EvaluationError, ExpressionError
from gp_celery.expressions.runtime import EVAL_ERRORS

Getter = Callable[[Event], Any]


class _NoValue:
    """Marks a node whose value is only known per event."""


NO_VALUE: Final = _NoValue()
_NO_EVENT: Final[Event] = {}


class Node:
    """A compiled sub-expression: its closure, nesting depth and, if known, constant value."""

    __slots__ = ("column", "const", "depth", "field", "fn")

    def __init__(self, fn: Getter, column: int, depth: int = 1, const: Any = NO_VALUE) -> None:
        self.fn = fn
        self.column = column
        self.depth = depth
        self.const = const
        self.field: FieldPath | None = None  # set when fn may return MISSING

    @property
    def is_const(self) -> bool:
        return self.const is not NO_VALUE


def constant(value: Any, column: int) -> Node:
    """A literal; a list is copied per call so no event ever shares the compiled one."""
    if isinstance(value, list):
        return Node(lambda _event: list(value), column, const=value)
    return Node(lambda _event: value, column, const=value)


def combine(fn: Getter, children: list[Node], column: int) -> Node:
    """A node over ``children``; folded to a constant when they all are (errors show at load)."""
    depth = 1 + max((child.depth for child in children), default=0)
    if depth > MAX_DEPTH:
        raise ExpressionError(f"expression is nested too deeply (limit {MAX_DEPTH})", column)
    if children and all(child.is_const for child in children):
        try:
            return constant(fn(_NO_EVENT), column)
        except EVAL_ERRORS as error:
            raise ExpressionError(str(error), column) from None
    return Node(fn, column, depth)


def fast_getter(path: FieldPath) -> Getter:
    """``path.get`` with the common one- and two-segment dict cases unrolled (hot path)."""
    parts = path.parts
    if len(parts) == 1:
        (key,) = parts

        def get_one(event: Event) -> Any:
            return event.get(key, MISSING)

        return get_one
    if len(parts) == 2:
        first, second = parts
        general = path.get

        def get_two(event: Event) -> Any:
            inner = event.get(first, MISSING)
            if type(inner) is dict:
                return inner.get(second, MISSING)
            return general(event)  # lists, scalars: the FieldPath rules

        return get_two
    return path.get


def field(dotted: str, column: int, *, missing_ok: bool) -> Node:
    """A ``$(path)`` reference; MISSING when absent, or an error if ``missing_ok`` is false."""
    path = field_path(dotted)
    if missing_ok:
        node = Node(fast_getter(path), column)
        node.field = path
        return node
    return Node(_raising_getter(path), column)


def _raising_getter(path: FieldPath) -> Getter:
    get = fast_getter(path)
    message = f"field '{path.dotted}' is missing"

    def get_present(event: Event) -> Any:
        value = get(event)
        if value is MISSING:
            raise EvaluationError(message)
        return value

    return get_present


def strict(node: Node) -> Getter:
    """The node's value for a consumer that needs a real one."""
    return node.fn if node.field is None else _raising_getter(node.field)


def falsy(node: Node) -> Getter:
    """The node's value with a missing field read as GambolPutty's ``False``."""
    if node.field is None:
        return node.fn
    get = node.fn

    def get_or_false(event: Event) -> Any:
        value = get(event)
        return False if value is MISSING else value

    return get_or_false


def wrap_error(label: str, error: Exception) -> EvaluationError:
    """Name the failing function in the message, once."""
    if isinstance(error, EvaluationError):
        return error
    return EvaluationError(f"{label}: {error}")
