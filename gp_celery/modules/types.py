"""Validated option types: regexes, field names, templates and filters compile at load.

Pydantic's own regex type drops the ``re.error`` detail; ours keeps it, so
``gp-celery check`` can say what is wrong with a pattern. Regex flags have one table and one
parser (``parse_flags``) for every module; GambolPutty eval'd them.
"""

from __future__ import annotations

import difflib
import re
import typing
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, Final, Literal, TypeVar

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ModelWrapValidatorHandler,
    PlainValidator,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from gp_celery import expressions
from gp_celery.event import FieldPath
from gp_celery.modules.base import Options

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


def check_time_format(text: str) -> str:
    """Reject what strptime calls a bad directive ('%Q', a trailing '%') at load."""
    try:
        datetime.strptime("", text)  # only the format is checked here
    except ValueError as error:
        if "directive" in str(error) or "stray" in str(error):
            raise ValueError(f"bad time format {text!r}: {error}") from None
    return text


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

FlaggedRegex = Annotated[
    re.Pattern[str], PlainValidator(compile_flagged_regex), WithJsonSchema({"type": "string"})
]
"""A regex as a pattern or as [pattern, flags], flags such as 're.I | re.M' or 'M|S'."""

TimeFormat = Annotated[str, AfterValidator(check_time_format)]
"""A strptime/strftime format such as '%d/%b/%Y:%H:%M:%S %z', checked at load."""

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


def option_names(model: type[BaseModel]) -> dict[str, str]:
    """Every name a config may give an option of ``model`` under -> the field's name."""
    names = {}
    for name, field in model.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(dict.fromkeys((c for c in alias.choices if isinstance(c, str)), name))
        else:
            names[alias if isinstance(alias, str) else name] = name
    return names


def _either(names: list[str]) -> str:
    quoted = [f"'{name}'" for name in names]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def relabelled(
    error: ValidationError, explain: Callable[[ErrorDetails], str | None]
) -> ValidationError:
    """``error`` with the messages ``explain`` gives in place of pydantic's (same locations)."""
    details: list[InitErrorDetails] = []
    for item in error.errors():
        message = explain(item)
        kind = item["type"] if message is None else "value_error"
        details.append(_detail(kind, item["loc"], item["input"], message or item["msg"]))
    return ValidationError.from_exception_data(error.title, details)


def _detail(kind: str, loc: tuple[int | str, ...], value: Any, message: str) -> InitErrorDetails:
    # The message goes in as a context value: it may quote user text with braces in it.
    error = PydanticCustomError(kind, "{message}", {"message": message})
    return {"type": error, "loc": loc, "input": value}


class SpelledOptions(Options):
    """Options of which some have a second name (LumberMill's spelling).

    Declare such an option once, with ``validation_alias=AliasChoices(name, other_name)``.
    Giving both names is an error located at the other name: "set 'a' or 'b', not both"
    (pydantic alone would call it an unknown option).
    """

    @model_validator(mode="wrap")
    @classmethod
    def _explain_errors(cls, data: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        try:
            return handler(data)
        except ValidationError as error:
            raise relabelled(error, lambda item: cls.explain(data, item)) from None

    @classmethod
    def explain(cls, data: Any, item: ErrorDetails) -> str | None:
        """A clearer message for one pydantic error, or None to keep pydantic's."""
        if item["type"] != "extra_forbidden" or len(item["loc"]) != 1:
            return None
        names = option_names(cls)
        field = names.get(str(item["loc"][0]))
        if field is None or not isinstance(data, dict):
            return None
        return f"set {_either([n for n, f in names.items() if f == field and n in data])}, not both"


class TaggedOptions(SpelledOptions):
    """Options whose other options depend on one of them: a discriminated union.

    The root class (ModifyFields' options) declares what every variant shares, at least the
    tag option (``action``). Each variant subclasses the root, narrows the tag to a
    ``Literal`` and declares its own options; ``declare_variants`` on the root lists them.
    Validating the root picks the variant by the tag and validates with it, so a variant
    rejects the others' options. Errors are located at the option, as for a plain model
    (pydantic's own union would put the tag first in ``loc``, and the loader would lose the
    option's line), and say what the variant needs or does not take.
    """

    tag: ClassVar[str] = ""
    """The option that picks the variant (set on the root by declare_variants)."""
    variants: ClassVar[Mapping[str, type[TaggedOptions]]] = {}
    """Tag value -> variant, in declaration order (set on the root by declare_variants)."""
    tag_aliases: ClassVar[Mapping[str, str]] = {}
    """Other spellings of a tag value, e.g. LumberMill's 'lower' for 'lowercase'."""
    refused_tags: ClassVar[Mapping[str, str]] = {}
    """Tag values that are known but refused, with the reason."""

    @classmethod
    def declare_variants(
        cls,
        tag: str,
        variants: Iterable[type[TaggedOptions]],
        aliases: Mapping[str, str] | None = None,
        refused: Mapping[str, str] | None = None,
    ) -> None:
        """Make ``cls`` the root of a union of ``variants``, picked by the option ``tag``."""
        table: dict[str, type[TaggedOptions]] = {}
        for variant in variants:
            annotation = variant.model_fields[tag].annotation
            if not issubclass(variant, cls) or typing.get_origin(annotation) is not Literal:
                what = f"subclass {cls.__name__} and declare {tag!r} as a Literal"
                raise TypeError(f"{variant.__name__} must {what}")
            table.update(dict.fromkeys(typing.get_args(annotation), variant))
        cls.tag, cls.variants = tag, MappingProxyType(table)
        cls.tag_aliases = MappingProxyType(dict(aliases or {}))
        cls.refused_tags = MappingProxyType(dict(refused or {}))

    @classmethod
    def root(cls) -> type[TaggedOptions] | None:
        """The class that declared the variants ``cls`` belongs to (None: no union yet)."""
        return next((k for k in cls.__mro__ if "variants" in k.__dict__), None)

    @model_validator(mode="wrap")
    @classmethod
    def _pick_variant(cls, data: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        if "variants" not in cls.__dict__ or not isinstance(data, dict):
            return handler(data)  # a variant (explained below), or not a map: pydantic says so
        if cls.tag not in data:
            error = _detail("missing", (cls.tag,), data, "Field required")
            raise ValidationError.from_exception_data(cls.__name__, [error])
        value = data[cls.tag]
        value = cls.tag_aliases.get(value, value) if isinstance(value, str) else value
        variant = cls.variants.get(value) if isinstance(value, str) else None
        if variant is None:
            reason = cls.refused_tags.get(value) if isinstance(value, str) else None
            known = ", ".join(cls.variants)
            reason = reason or f"unknown {cls.tag} {value!r}; valid {cls.tag}s: {known}"
            error = _detail("value_error", (cls.tag,), value, reason)
            raise ValidationError.from_exception_data(cls.__name__, [error])
        return variant.model_validate({**data, cls.tag: value})

    @classmethod
    def explain(cls, data: Any, item: ErrorDetails) -> str | None:
        root, loc, kind = cls.root(), item["loc"], item["type"]
        if root is None or cls is root or len(loc) != 1 or not isinstance(data, dict):
            return super().explain(data, item)
        name, which = str(loc[0]), f"{root.tag} {data.get(root.tag)!r}"
        names = option_names(cls)
        if kind == "missing" and name in names:
            return f"{which} needs {_either([n for n, f in names.items() if f == names[name]])}"
        if kind != "extra_forbidden" or name in names:
            return super().explain(data, item)
        if any(name in option_names(variant) for variant in root.variants.values()):
            return f"{which} does not take '{name}'"
        close = difflib.get_close_matches(name, list(names), n=1, cutoff=0.6)
        return f"unknown option '{name}'" + (f" (did you mean '{close[0]}'?)" if close else "")
