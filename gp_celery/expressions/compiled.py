"""Filters (true/false per event, never raising) and Math expressions (a value per event)."""

from __future__ import annotations

from typing import Any

from gp_celery.event import Event
from gp_celery.expressions.errors import EvaluationError
from gp_celery.expressions.parser import Parser
from gp_celery.expressions.runtime import EVAL_ERRORS


class Filter:
    """A compiled filter. Bad data makes it false and is counted, as the original's bypass.

    GambolPutty skipped (output filter) or bypassed (input filter) on an exception; we do the
    same but count it in ``errors`` and keep ``last_error``, so the runner can report it.
    """

    __slots__ = ("_fn", "errors", "fields", "last_error", "source")

    def __init__(self, source: str) -> None:
        parser = Parser(source, missing_ok=True)
        self._fn = parser.parse(allow_if=True).fn
        self.source = source
        self.fields: tuple[str, ...] = tuple(parser.fields)
        self.errors = 0
        self.last_error: str | None = None

    def __call__(self, event: Event) -> bool:
        try:
            return True if self._fn(event) else False  # noqa: SIM210 - no bool() call, hot path
        except EVAL_ERRORS as error:
            self.errors += 1
            self.last_error = str(error)
            return False

    def __repr__(self) -> str:
        return f"Filter({self.source!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Filter) and other.source == self.source

    def __hash__(self) -> int:
        return hash((Filter, self.source))

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return compile_filter, (self.source,)


class Expression:
    """A compiled value expression for Math; a missing field or bad data raises."""

    __slots__ = ("_fn", "fields", "source")

    def __init__(self, source: str) -> None:
        parser = Parser(source, missing_ok=False)
        self._fn = parser.parse(allow_if=False).fn
        self.source = source
        self.fields: tuple[str, ...] = tuple(parser.fields)

    def __call__(self, event: Event) -> Any:
        try:
            return self._fn(event)
        except EvaluationError:
            raise
        except EVAL_ERRORS as error:  # an operator's own TypeError, ZeroDivisionError, ...
            raise EvaluationError(str(error)) from None

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Expression) and other.source == self.source

    def __hash__(self) -> int:
        return hash((Expression, self.source))

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return compile_expression, (self.source,)


def compile_filter(text: str) -> Filter:
    """Compile a filter such as ``if $(gambolputty.event_type) != 'Unknown'``."""
    return Filter(text)


def compile_expression(text: str) -> Expression:
    """Compile a value expression such as ``float($(request_time)) * 1000``."""
    return Expression(text)
