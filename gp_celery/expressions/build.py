"""Builders for operator, call and method nodes, with the hot cases specialised."""

from __future__ import annotations

import re
from typing import Any

from gp_celery.event import MISSING, Event, FieldPath
from gp_celery.expressions.errors import ExpressionError
from gp_celery.expressions.nodes import (
    Getter,
    Node,
    combine,
    falsy,
    fast_getter,
    strict,
    wrap_error,
)
from gp_celery.expressions.runtime import (
    BINARY,
    COMPARISONS,
    EVAL_ERRORS,
    FUNCTIONS,
    METHODS,
    ORDERING,
    UNARY,
    method_call,
    regex_call,
)


def compare(operands: list[Node], ops: list[str], column: int) -> Node:
    """``a OP b`` or a Python-style chain ``a < b <= c`` (each operand evaluated once)."""
    if len(ops) == 1:
        return _compare_two(operands[0], ops[0], operands[1], column)
    ordered = [False] * len(operands)
    for index, op in enumerate(ops):
        if op in ORDERING:
            ordered[index] = ordered[index + 1] = True
    getters = [
        strict(node) if needs_value else falsy(node)
        for node, needs_value in zip(operands, ordered, strict=True)
    ]
    steps = tuple(zip((COMPARISONS[op] for op in ops), getters[1:], strict=True))
    first = getters[0]

    def chain(event: Event) -> bool:
        left = first(event)
        for impl, get in steps:
            right = get(event)
            if not impl(left, right):
                return False
            left = right
        return True

    return combine(chain, operands, column)


def _compare_two(left: Node, op: str, right: Node, column: int) -> Node:
    if op in ("==", "!=") and left.is_const and right.field is not None:
        left, right = right, left
    if op in ("==", "!=") and right.is_const and left.field is not None:
        return combine(_field_equals(left.field, right.const, op == "!="), [left], column)
    if op in ("in", "not in") and isinstance(right.const, list):
        return combine(_member_of(falsy(left), right.const, op == "not in"), [left], column)
    impl = COMPARISONS[op]
    pick = strict if op in ORDERING else falsy
    get_left, get_right = pick(left), pick(right)

    def comparison(event: Event) -> Any:
        return impl(get_left(event), get_right(event))

    return combine(comparison, [left, right], column)


def _field_equals(path: FieldPath, value: Any, negate: bool) -> Getter:
    """``$(path) == literal``: the hottest filter shape, one look-up and one compare."""
    get = fast_getter(path)
    on_missing = (value == False) != negate  # noqa: E712 - a missing field is False here
    if negate:

        def not_equal(event: Event) -> Any:  # Any: no bool() call on the hot path
            found = get(event)
            return on_missing if found is MISSING else found != value

        return not_equal

    def equal(event: Event) -> Any:
        found = get(event)
        return on_missing if found is MISSING else found == value

    return equal


def _member_of(get: Getter, choices: list[Any], negate: bool) -> Getter:
    """``x in [literals]`` as a set look-up, falling back to the list for unhashable x."""
    ordered = tuple(choices)
    try:
        lookup: frozenset[Any] | tuple[Any, ...] = frozenset(ordered)
    except TypeError:
        lookup = ordered

    def member(event: Event) -> bool:
        value = get(event)
        try:
            found = value in lookup
        except TypeError:
            found = value in ordered
        return found != negate

    return member


def boolean(op: str, operands: list[Node], column: int) -> Node:
    """``and``/``or`` over any number of operands, returning an operand like Python does."""
    getters = tuple(falsy(node) for node in operands)
    is_and = op == "and"

    def short_circuit(event: Event) -> Any:
        value: Any = None
        for get in getters:
            value = get(event)
            if bool(value) != is_and:
                return value
        return value

    if len(getters) == 2:
        first, second = getters
        if is_and:

            def both(event: Event) -> Any:
                return first(event) and second(event)

            return combine(both, operands, column)

        def either(event: Event) -> Any:
            return first(event) or second(event)

        return combine(either, operands, column)
    return combine(short_circuit, operands, column)


def negation(operand: Node, column: int) -> Node:
    get = operand.fn  # MISSING is falsy, so 'not $(x)' is true for a missing x

    def negated(event: Event) -> bool:
        return not get(event)

    return combine(negated, [operand], column)


def unary(op: str, operand: Node, column: int) -> Node:
    impl, get = UNARY[op], strict(operand)

    def apply(event: Event) -> Any:
        return impl(get(event))

    return combine(apply, [operand], column)


def binary(op: str, left: Node, right: Node, column: int) -> Node:
    if op == "%" and isinstance(left.const, str):
        raise ExpressionError("'%' string formatting is not supported", column)
    impl, get_left, get_right = BINARY[op], strict(left), strict(right)

    def apply(event: Event) -> Any:
        return impl(get_left(event), get_right(event))

    return combine(apply, [left, right], column)


def call(name: str, args: list[Node], column: int) -> Node:
    """A whitelisted function call; a literal regex is compiled here, at load."""
    spec = FUNCTIONS[name]
    _check_arity(f"{name}()", len(args), spec.min_args, spec.max_args, column)
    if name.startswith("re.") and args[0].is_const:
        impl = regex_call(name[3:], _literal_regex(args[0]))
        return combine(_applied(f"{name}()", impl, [strict(args[1])]), [args[1]], column)
    getters = [falsy(arg) if name == "bool" else strict(arg) for arg in args]
    return combine(_applied(f"{name}()", spec.impl, getters), args, column)


def method(name: str, target: Node, args: list[Node], column: int) -> Node:
    """A whitelisted string method called on a value."""
    label = f"'.{name}()'"
    _check_arity(label, len(args), *METHODS[name], column)
    getters = [strict(target), *(strict(arg) for arg in args)]
    return combine(_applied(label, method_call(name), getters), [target, *args], column)


def list_literal(elements: list[Node], column: int) -> Node:
    getters = tuple(falsy(node) for node in elements)

    def build_list(event: Event) -> list[Any]:
        return [get(event) for get in getters]

    return combine(build_list, elements, column)


def _applied(label: str, impl: Any, getters: list[Getter]) -> Getter:
    """Call ``impl`` on the argument values; its errors name ``label``."""
    if len(getters) == 1:
        (get,) = getters

        def apply_one(event: Event) -> Any:
            value = get(event)
            try:
                return impl(value)
            except EVAL_ERRORS as error:
                raise wrap_error(label, error) from None

        return apply_one

    def apply(event: Event) -> Any:
        values = [get(event) for get in getters]
        try:
            return impl(*values)
        except EVAL_ERRORS as error:
            raise wrap_error(label, error) from None

    return apply


def _check_arity(label: str, count: int, least: int, most: int | None, column: int) -> None:
    if count < least or (most is not None and count > most):
        if most is None:
            wanted = f"at least {least}"
        else:
            wanted = str(least) if least == most else f"{least} to {most}"
        raise ExpressionError(f"{label} takes {wanted} argument(s), got {count}", column)


def _literal_regex(node: Node) -> re.Pattern[str]:
    if not isinstance(node.const, str):
        raise ExpressionError("a regular expression must be a string", node.column)
    try:
        return re.compile(node.const)
    except re.error as error:
        where = f" at position {error.pos}" if error.pos is not None else ""
        raise ExpressionError(f"bad regular expression: {error.msg}{where}", node.column) from None
