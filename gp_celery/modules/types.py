"""Validated option types: regexes, field names, templates and filters compile at load.

Pydantic's own regex type drops the ``re.error`` detail; ours keeps it, so
``gp-celery check`` can say what is wrong with a pattern. Regex flags have one table and one
parser (``parse_flags``) for every module; GambolPutty eval'd them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Final, TypeVar

from pydantic import BeforeValidator, PlainValidator, WithJsonSchema

from gp_celery import expressions
from gp_celery.event import FieldPath

T = TypeVar("T")

# A table reads better on three lines than on twelve, hence fmt: skip.
FLAGS: Final[Mapping[str, re.RegexFlag]] = {
    "IGNORECASE": re.IGNORECASE, "I": re.IGNORECASE, "MULTILINE": re.MULTILINE,
    "M": re.MULTILINE, "DOTALL": re.DOTALL, "S": re.DOTALL, "VERBOSE": re.VERBOSE,
    "X": re.VERBOSE, "ASCII": re.ASCII, "A": re.ASCII, "UNICODE": re.UNICODE, "U": re.UNICODE,
}  # fmt: skip
"""Flag names a pattern may ask for, in any case, with or without 're.'."""


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


def parse_flags(value: Any) -> re.RegexFlag:
    """'re.MULTILINE | re.DOTALL', 'M|S', 'ignorecase' -> flags; None or '' -> none.

    Names are split at '|', ',' and spaces; anything but a flag name is an error, so
    GambolPutty's eval'd ``'re.I | re.M'`` keeps working and nothing else runs.
    """
    flags = re.RegexFlag(0)
    if value is None:
        return flags
    if not isinstance(value, str):
        raise ValueError(
            f"flags must be a string such as 're.MULTILINE | re.DOTALL', got {value!r}"
        )
    for part in filter(None, re.split(r"[\s|,]+", value)):
        name = part.removeprefix("re.").upper()
        if name not in FLAGS:
            names = ", ".join(name for name in FLAGS if len(name) > 1)
            raise ValueError(f"unknown regex flag {part!r} (use {names} or their one-letter forms)")
        flags |= FLAGS[name]
    return flags


def compile_flagged_regex(value: Any) -> re.Pattern[str]:
    """A pattern, or GambolPutty's ``[pattern, flags]`` (``[pattern]`` alone too)."""
    if isinstance(value, (list, tuple)):
        if not 1 <= len(value) <= 2:
            raise ValueError("expected a pattern or [pattern, flags]")
        pattern, flags = [*value, None][:2]
        return compile_regex(pattern, parse_flags(flags))
    return compile_regex(value)


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


def _compiled(
    value: Any,
    kind: type[T],
    compile_text: Callable[[str], T],
    what: str,
    numbers: tuple[type, ...] = (),
) -> T:
    """Compile option text once, at load; keep the column of an ExpressionError."""
    if isinstance(value, kind):
        return value
    if numbers and isinstance(value, numbers):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError(f"expected {what}, got {type(value).__name__}")
    try:
        return compile_text(value)
    except expressions.ExpressionError as error:
        raise ValueError(f"bad {what.rsplit(maxsplit=1)[-1]}: {error}") from None


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

FlaggedRegex = Annotated[
    re.Pattern[str], PlainValidator(compile_flagged_regex), WithJsonSchema({"type": "string"})
]
"""A regex as a pattern or as [pattern, flags], flags such as 're.I | re.M' or 'M|S'."""

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
