"""ModifyFields options: one model per action, picked by ``action`` (a discriminated union).

GambolPutty did not validate ModifyFields at all (wrong or missing options surfaced at run
time). Here each action is a subclass of ``ModifyFieldsOptions`` that declares exactly the
options it takes, so a typo, a forgotten option or an option of another action is a
configuration error located at that option, and `gp-celery modules ModifyFields` shows
which option belongs to which action. Each action also compiles itself (``build``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, PlainValidator

from gp_celery import expressions
from gp_celery.modules.modifiers.modify_fields.common import Action, Reporter
from gp_celery.modules.types import TaggedOptions


class ModifyFieldsOptions(TaggedOptions):
    """The options every action has; each action's model adds its own."""

    action: str
    """What to do: one of the actions below (LumberMill's 'lower'/'upper' work too)."""

    def build(self, reporter: Reporter) -> Action:
        """Compile the action once, at setup, into a function applied to each event."""
        raise NotImplementedError


def _constant_or_template(value: Any) -> Any:
    """Strings are templates; numbers, booleans, lists and maps are inserted as they are."""
    if isinstance(value, str):
        try:
            return expressions.compile_template(value)
        except expressions.ExpressionError as error:
            raise ValueError(f"bad template: {error}") from None
    return value


InsertValue = Annotated[Any, PlainValidator(_constant_or_template)]
"""A $(field) template when a string, else a YAML value inserted as it is."""


def _non_empty(text: str) -> str:
    if not text:
        raise ValueError("expected non-empty text")
    return text


Separator = Annotated[str, AfterValidator(_non_empty)]
"""Text to split at; never empty."""


def check_replacement(regex: re.Pattern[str] | None, replacement: str) -> None:
    """Parse a re.sub replacement at load: '\\3' without a group 3 fails here, not per event."""
    if regex is None:
        return  # the regex itself was rejected; that error says so
    try:
        regex.sub(replacement, "")
    except re.error as error:
        raise ValueError(f"bad replacement: {error}") from None


def constant_text(template: expressions.Template) -> str:
    """The text of a template that must not refer to fields."""
    if not template.is_constant:
        raise ValueError("renames keys, so it cannot use $(...)")
    return template.render({})
