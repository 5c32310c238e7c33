"""Validated option types: regexes, field names, templates and filters compile at load.

Pydantic's own regex type drops the ``re.error`` detail; ours keeps it, so
``gp-celery check`` can say what is wrong with a pattern.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from pydantic import BeforeValidator, PlainValidator, WithJsonSchema

from gp_celery import expressions
from gp_celery.event import FieldPath

T = TypeVar("T")


def compile_regex(value: Any, flags: int = 0) -> re.Pattern[str]:
    """Compile a pattern, keeping the re.error message and position for the user."""
    if isinstance(value, re.Pattern):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a regular expression, got {type(value).__name__}")
    try:
        return re.compile(value, flags)
    except re.error as error:
        where = f" at position {error.pos}" if error.pos is not None else ""
        raise ValueError(f"bad regular expression: {error.msg}{where}") from None


def _check_field_name(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a field name, got {value!r}")
    FieldPath(value)  # raises ValueError for '', 'a..b', '.a'
    return value


def _field_names(value: Any) -> tuple[str, ...]:
    """GambolPutty's ``string||list`` field options: one name or a list of names."""
    if isinstance(value, str):
        return (_check_field_name(value),)
    if isinstance(value, (list, tuple)):
        return tuple(_check_field_name(item) for item in value)
    raise ValueError(f"expected a field name or a list of field names, got {value!r}")


class TextError(ValueError):
    """Option text that does not compile. Keeps the ExpressionError, whose column the config
    loader turns into a line and column in the file."""

    def __init__(self, kind: str, error: expressions.ExpressionError) -> None:
        super().__init__(f"bad {kind}: {error}")
        self.kind = kind
        self.error = error


def _compiled(
    value: Any,
    kind: type[T],
    compile_text: Callable[[str], T],
    what: str,
    numbers: tuple[type, ...] = (),
) -> T:
    """Compile option text once, at load; keep the column of an ExpressionError.
    The error names the option kind by the last word of ``what``, 'filter' for filters."""
    if isinstance(value, kind):
        return value
    if numbers and isinstance(value, numbers):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError(f"expected {what}, got {type(value).__name__}")
    try:
        return compile_text(value)
    except expressions.ExpressionError as error:
        raise TextError(
            "filter" if "filter" in what else what.rsplit(maxsplit=1)[-1], error
        ) from None


def _compile_template(value: Any) -> expressions.Template:
    numbers = () if isinstance(value, bool) else (int, float)
    return _compiled(
        value, expressions.Template, expressions.compile_template, "a string template", numbers
    )


def _compile_filter(value: Any) -> expressions.Filter:
    return _compiled(
        value,
        expressions.Filter,
        expressions.compile_filter,
        "a filter expression",
        (bool, int, float),
    )


def _compile_expression(value: Any) -> expressions.Expression:
    return _compiled(value, expressions.Expression, expressions.compile_expression, "an expression")


Regex = Annotated[
    re.Pattern[str], PlainValidator(compile_regex), WithJsonSchema({"type": "string"})
]
"""A regular expression, compiled at load."""

FieldName = Annotated[str, BeforeValidator(_check_field_name)]
"""A dotted field path such as 'data' or 'params.spanish.0'."""

FieldNames = Annotated[tuple[str, ...], PlainValidator(_field_names)]
"""One field name or a list of them (GambolPutty's string||list)."""

Template = Annotated[
    expressions.Template, PlainValidator(_compile_template), WithJsonSchema({"type": "string"})
]
"""A string with $(field) references, rendered per event."""

Filter = Annotated[
    expressions.Filter, PlainValidator(_compile_filter), WithJsonSchema({"type": "string"})
]
"""A filter expression such as "$(gambolputty.event_type) != 'Unknown'"."""

Expression = Annotated[
    expressions.Expression, PlainValidator(_compile_expression), WithJsonSchema({"type": "string"})
]
"""An arithmetic expression over fields, e.g. 'float($(request_time)) * 1000'."""
