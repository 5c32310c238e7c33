"""Actions that add, remove or regroup fields: keep, delete, concat, insert, merge, split, join."""

from __future__ import annotations

import copy
from typing import Any, Literal

from gp_celery import expressions
from gp_celery.event import META, MISSING, Event, FieldPath, field_path
from gp_celery.modules.modifiers.modify_fields.common import (
    Action,
    Reporter,
    describe,
    missing,
    set_field,
)
from gp_celery.modules.modifiers.modify_fields.options import (
    InsertValue,
    ModifyFieldsOptions,
    Separator,
)
from gp_celery.modules.types import FieldName, FieldNames


def _paths(names: tuple[str, ...]) -> list[FieldPath]:
    return [field_path(name) for name in names]


def _present(paths: list[FieldPath], event: Event, reporter: Reporter) -> list[Any]:
    values = []
    for path in paths:
        value = path.get(event)
        if value is MISSING:
            missing(reporter)
        else:
            values.append(value)
    return values


class KeepOptions(ModifyFieldsOptions):
    """Delete every top-level field not listed; the metadata always stays."""

    action: Literal["keep"]
    source_fields: FieldNames
    """The fields to keep (a dotted name keeps its whole top-level field)."""

    def build(self, reporter: Reporter) -> Action:
        # A dotted name keeps its whole top-level field: a partial keep inside a dict is not
        # defined.
        kept = {name.split(".")[0] for name in self.source_fields} | {META}

        def keep(event: Event) -> None:
            for key in [key for key in event if key not in kept]:
                del event[key]

        return keep


class DeleteOptions(ModifyFieldsOptions):
    """Remove the listed fields."""

    action: Literal["delete"]
    source_fields: FieldNames
    """The fields to remove (dotted names reach into dicts)."""

    def build(self, reporter: Reporter) -> Action:
        paths = _paths(self.source_fields)

        def delete(event: Event) -> None:
            for path in paths:
                if path.delete(event) is MISSING:
                    missing(reporter)

        return delete


class ConcatOptions(ModifyFieldsOptions):
    """Join the present values as text, without a separator, into target_field."""

    action: Literal["concat"]
    source_fields: FieldNames
    """The fields to concatenate, in this order."""
    target_field: FieldName
    """Where the text goes ('' when no source is present, as in GambolPutty)."""

    def build(self, reporter: Reporter) -> Action:
        paths, target = _paths(self.source_fields), field_path(self.target_field)

        def concat(event: Event) -> None:
            text = "".join(str(value) for value in _present(paths, event, reporter))
            if problem := set_field(target, event, text):
                reporter.fail(event, f"concat: {problem}")

        return concat


class InsertOptions(ModifyFieldsOptions):
    """Set target_field to a value."""

    action: Literal["insert"]
    target_field: FieldName
    """The field to set."""
    value: InsertValue
    """A string is a $(field) template (a missing field renders as ''); other YAML values
    (numbers, booleans, lists, maps) go in as they are."""

    def build(self, reporter: Reporter) -> Action:
        target, value = field_path(self.target_field), self.value

        def insert(event: Event) -> None:
            if isinstance(value, expressions.Template):
                new = value.render(event)  # a missing field renders as '' (GambolPutty: '%(x)s')
            else:
                new = copy.deepcopy(value)  # events must not share one mutable list or dict
            if problem := set_field(target, event, new):
                reporter.fail(event, f"insert: {problem}")

        return insert


class MergeOptions(ModifyFieldsOptions):
    """Put the present values, in order, into a list in target_field."""

    action: Literal["merge"]
    source_fields: FieldNames
    """The fields to merge, e.g. [longitude, latitude]."""
    target_field: FieldName
    """Where the list goes."""

    def build(self, reporter: Reporter) -> Action:
        paths, target = _paths(self.source_fields), field_path(self.target_field)

        def merge(event: Event) -> None:
            if problem := set_field(target, event, _present(paths, event, reporter)):
                reporter.fail(event, f"merge: {problem}")

        return merge


class SplitOptions(ModifyFieldsOptions):
    """Split text at a separator into a list."""

    action: Literal["split"]
    source_field: FieldName
    """The text to split."""
    separator: Separator = ","
    """Where to split."""
    target_field: FieldName | None = None
    """Where the list goes; None = replace the source."""

    def build(self, reporter: Reporter) -> Action:
        source = field_path(self.source_field)
        target = field_path(self.target_field) if self.target_field else source
        separator = self.separator

        def split(event: Event) -> None:
            value = source.get(event)
            if value is MISSING:
                missing(reporter)
            elif not isinstance(value, str):
                reporter.fail(event, f"split: {source.dotted!r} is a {describe(value)}, not text")
            elif problem := set_field(target, event, value.split(separator)):
                reporter.fail(event, f"split: {problem}")

        return split


class JoinOptions(ModifyFieldsOptions):
    """Join a list into text with a separator (items that are not text become text)."""

    action: Literal["join"]
    source_field: FieldName
    """The list to join."""
    target_field: FieldName
    """Where the text goes."""
    separator: str = ","
    """Put between the items."""

    def build(self, reporter: Reporter) -> Action:
        source, target = field_path(self.source_field), field_path(self.target_field)
        separator = self.separator

        def join(event: Event) -> None:
            value = source.get(event)
            if value is MISSING:
                missing(reporter)
            elif not isinstance(value, (list, tuple)):
                reporter.fail(event, f"join: {source.dotted!r} is a {describe(value)}, not a list")
            else:
                text = separator.join(
                    item if isinstance(item, str) else str(item) for item in value
                )
                if problem := set_field(target, event, text):
                    reporter.fail(event, f"join: {problem}")

        return join
