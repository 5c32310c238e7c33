"""Validated option types: regexes, field names, templates and filters compile at load.

Pydantic's own regex type drops the ``re.error`` detail; ours keeps it, so
``gp-celery check`` can say what is wrong with a pattern.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainValidator, WithJsonSchema

from gp_celery import expressions
from gp_celery.event import FieldPath


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


def _compile_template(value: Any) -> expressions.Template:
    if isinstance(value, expressions.Template):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a string template, got {type(value).__name__}")
    try:
        return expressions.compile_template(value)
    except expressions.ExpressionError as error:
        raise ValueError(f"bad template: {error}") from None


def _compile_filter(value: Any) -> expressions.Filter:
    if isinstance(value, expressions.Filter):
        return value
    if isinstance(value, (bool, int, float)):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a filter expression, got {type(value).__name__}")
    try:
        return expressions.compile_filter(value)
    except expressions.ExpressionError as error:
        raise ValueError(f"bad filter: {error}") from None


def _compile_expression(value: Any) -> expressions.Expression:
    if isinstance(value, expressions.Expression):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected an expression, got {type(value).__name__}")
    try:
        return expressions.compile_expression(value)
    except expressions.ExpressionError as error:
        raise ValueError(f"bad expression: {error}") from None


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
