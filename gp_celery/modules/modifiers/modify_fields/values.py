"""Actions that change one field's value: string_replace, replace, map, slice, strip."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from gp_celery.event import MISSING, Event, field_path
from gp_celery.modules.modifiers.modify_fields.common import (
    Action,
    Reporter,
    describe,
    missing,
    set_field,
)
from gp_celery.modules.modifiers.modify_fields.options import (
    ModifyFieldsOptions,
    check_replacement,
)
from gp_celery.modules.types import FieldName, FlaggedRegex, Template


class StringReplaceOptions(ModifyFieldsOptions):
    """Replace plain text in a field's value."""

    action: Literal["string_replace"]
    source_field: FieldName
    """The text to change in place."""
    old: Template
    """The text to replace ($(field) is rendered per event)."""
    new: Template
    """The replacement ($(field) is rendered per event)."""
    max: int = -1
    """At most this many replacements; -1 = all."""

    def build(self, reporter: Reporter) -> Action:
        source, count, old, new = field_path(self.source_field), self.max, self.old, self.new

        def string_replace(event: Event) -> None:
            value = source.get(event)
            if value is MISSING:
                missing(reporter)
            elif not isinstance(value, str):
                reason = f"{source.dotted!r} is a {describe(value)}, not text"
                reporter.fail(event, f"string_replace: {reason}")
            else:
                source.set(event, value.replace(old.render(event), new.render(event), count))

        return string_replace


class ReplaceOptions(ModifyFieldsOptions):
    """Replace what a regex matches in a field's value."""

    action: Literal["replace"]
    source_field: FieldName
    """The text to change in place."""
    regex: FlaggedRegex
    """Pattern, or [pattern, flags] with flags such as 're.MULTILINE | re.DOTALL'."""
    with_: Template = Field(alias="with")
    """The replacement ($(field) rendered per event; \\1 and \\g<name> refer to groups)."""

    @field_validator("with_")
    @classmethod
    def _parses(cls, replacement: Template, info: ValidationInfo) -> Template:
        if replacement.is_constant:
            check_replacement(info.data.get("regex"), replacement.render({}))
        return replacement

    def build(self, reporter: Reporter) -> Action:
        source, regex, replacement = field_path(self.source_field), self.regex, self.with_
        constant = replacement.render({}) if replacement.is_constant else None

        def replace(event: Event) -> None:
            value = source.get(event)
            if value is MISSING:
                missing(reporter)
            elif not isinstance(value, str):
                reporter.fail(event, f"replace: {source.dotted!r} is a {describe(value)}, not text")
            else:
                try:  # a rendered field value may hold a backslash that is no group reference
                    result = regex.sub(
                        constant if constant is not None else replacement.render(event), value
                    )
                except re.error as error:
                    reason = f"bad replacement after rendering 'with': {error}"
                    reporter.fail(event, f"replace: {reason}")
                    return
                source.set(event, result)

        return replace


def build_map_table(table: dict[Any, Any]) -> dict[Any, Any]:
    """The map plus the str/int twin of every key, so YAML's ``200:`` matches a regex's '200'.

    A key given in both forms keeps its own entry. Booleans are left alone: True == 1 in Python.
    """
    lookup = dict(table)
    for key, value in table.items():
        if isinstance(key, int) and not isinstance(key, bool):
            lookup.setdefault(str(key), value)
        elif isinstance(key, str) and key.isascii() and key.lstrip("-").isdigit():
            lookup.setdefault(int(key), value)
    return lookup


class MapOptions(ModifyFieldsOptions):
    """Look a field's value up in a map and write what it maps to."""

    action: Literal["map"]
    source_field: FieldName
    """The value to look up."""
    map: dict[Any, Any]
    """Value -> replacement; YAML int keys also match the same digits as text."""
    target_field: FieldName | None = None
    """Where the result goes; None = '<source_field>_mapped'."""
    keep_unmappable: bool = False
    """Copy a value that is not in the map to the target unchanged."""

    def build(self, reporter: Reporter) -> Action:
        source = field_path(self.source_field)
        target = field_path(self.target_field or f"{source.dotted}_mapped")
        lookup, keep = build_map_table(self.map), self.keep_unmappable
        unset = object()

        def map_value(event: Event) -> None:
            value = source.get(event)
            if value is MISSING:
                missing(reporter)
                return
            try:
                mapped = lookup.get(value, unset)
            except TypeError:  # a list or dict value cannot be a key
                reason = f"{source.dotted!r} is a {describe(value)}, not a map key"
                reporter.fail(event, f"map: {reason}")
                return
            if mapped is unset:
                reporter.stats.incr("unmapped")
                if not keep:
                    return
                mapped = value
            if problem := set_field(target, event, mapped):
                reporter.fail(event, f"map: {problem}")

        return map_value


class SliceOptions(ModifyFieldsOptions):
    """Write value[start:end] of text or a list to target_field (LumberMill)."""

    action: Literal["slice"]
    source_field: FieldName
    """The text or list to slice."""
    target_field: FieldName
    """Where the slice goes."""
    start: int | None = 0
    """First item, as in Python (negative counts from the end)."""
    end: int | None = None
    """Item to stop before, as in Python; None = to the end."""

    def build(self, reporter: Reporter) -> Action:
        source, target = field_path(self.source_field), field_path(self.target_field)
        part = slice(self.start, self.end)

        def slice_value(event: Event) -> None:
            value = source.get(event)
            if value is MISSING:
                missing(reporter)
            elif not isinstance(value, (str, bytes, list, tuple)):
                reason = f"{source.dotted!r} is a {describe(value)}, not text or a list"
                reporter.fail(event, f"slice: {reason}")
            elif problem := set_field(target, event, value[part]):
                reporter.fail(event, f"slice: {problem}")

        return slice_value


class StripOptions(ModifyFieldsOptions):
    """Strip whitespace from both ends of text (LumberMill)."""

    action: Literal["strip"]
    source_field: FieldName
    """The text to strip."""
    target_field: FieldName | None = None
    """Where the result goes; None = replace the source."""

    def build(self, reporter: Reporter) -> Action:
        source = field_path(self.source_field)
        target = field_path(self.target_field) if self.target_field else source

        def strip(event: Event) -> None:
            value = source.get(event)
            if value is MISSING:
                missing(reporter)
            elif not isinstance(value, str):
                reporter.fail(event, f"strip: {source.dotted!r} is a {describe(value)}, not text")
            elif problem := set_field(target, event, value.strip()):
                reporter.fail(event, f"strip: {problem}")

        return strip
