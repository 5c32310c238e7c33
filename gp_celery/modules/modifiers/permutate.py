"""Permutate: one event per permutation of a list field's items."""

from __future__ import annotations

import itertools
import math
from typing import Any

from pydantic import Field, model_validator

from gp_celery.event import MISSING, Batch, Event, FieldPath, copy_event, field_path
from gp_celery.modules.base import Example, Modifier, Options
from gp_celery.modules.registry import register
from gp_celery.modules.types import FieldName


class PermutateOptions(Options):
    source_field: FieldName
    """The field holding the list whose items are permuted."""
    target_fields: list[FieldName] = Field(min_length=1)
    """Names for the items of each permutation; their number is the permutation length."""
    context_data_field: FieldName | None = None
    """A field holding a map: item -> map of data about that item ('' or unset: none)."""
    context_target_mapping: dict[str, list[FieldName]] = {}
    """Key in an item's context data -> target field per position (one per target_fields)."""
    max_permutations: int = Field(default=1000, ge=1)
    """Most events one event may become; an event with more permutations is tagged and
    goes on unchanged instead."""

    @model_validator(mode="before")
    @classmethod
    def _empty_is_unset(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("context_data_field") == "":
            return {**data, "context_data_field": None}  # GambolPutty's default, meaning none
        return data

    @model_validator(mode="after")
    def _consistent(self) -> PermutateOptions:
        if self.context_data_field and not self.context_target_mapping:
            raise ValueError("'context_data_field' needs 'context_target_mapping'")
        wanted = len(self.target_fields)
        for key, targets in self.context_target_mapping.items():
            if len(targets) != wanted:
                raise ValueError(
                    f"context_target_mapping: {key!r} needs {wanted} target fields, one per "
                    f"entry of 'target_fields'; got {len(targets)}"
                )
        return self


@register
class Permutate(Modifier[PermutateOptions]):
    """Emit one copy of the event per permutation of a list field's items.

    For every ``itertools.permutations(source_field, len(target_fields))`` a copy of the
    event is sent on with the permutation's items in ``target_fields``; the original is
    not. Copies get the id ``<id>.<n>`` (n counts from 0), so a redelivered batch yields
    the same ids. With ``context_data_field`` (a map: item -> map of data about it), each
    key of ``context_target_mapping`` found in an item's data is copied to that key's
    target field for the item's position.

    An event without the source field goes on unchanged (counted as ``missing_source``).
    An event whose source is not a list, whose list is shorter than ``target_fields``
    (no permutation) or that would become more than ``max_permutations`` events is tagged
    and goes on unchanged.

    Differences from GambolPutty: ``max_permutations`` is new (a list of 20 items has
    6,840 three-item permutations; unbounded, one event could flood the pipeline); a
    source that is no list, or too short, is tagged instead of passing silently (not a
    list) or vanishing (too short); context data goes to the target of the item's own
    position (GambolPutty counted only items that had context data, shifting the rest).
    """

    aliases = ("modifier.Permutate",)
    examples = [
        Example(
            options={"source_field": "facets", "target_fields": ["field1", "field2"]},
            given=[{"facets": ["a", "b", "c"]}],
            expect=[
                {"field1": "a", "field2": "b"},
                {"field1": "a", "field2": "c"},
                {"field1": "b", "field2": "a"},
                {"field1": "b", "field2": "c"},
                {"field1": "c", "field2": "a"},
                {"field1": "c", "field2": "b"},
            ],
        ),
    ]

    def setup(self) -> None:
        options = self.options
        self._source = field_path(options.source_field)
        self._targets = [field_path(name) for name in options.target_fields]
        self._context = field_path(options.context_data_field or "data")
        self._use_context = bool(options.context_data_field)
        self._mapping = [
            (key, [field_path(name) for name in names])
            for key, names in options.context_target_mapping.items()
        ]

    def process(self, events: Batch) -> Batch:
        out: Batch = []
        for event in events:
            out.extend(self._permute(event))
        return out

    def _permute(self, event: Event) -> Batch:
        items = self._source.get(event)
        if items is MISSING:
            self.stats.incr("missing_source")
            return [event]
        size, length = len(self._targets), len(items) if isinstance(items, list) else 0
        if not isinstance(items, list):
            self.fail(event, f"{self._source.dotted!r} is a {type(items).__name__}, not a list")
            return [event]
        count = math.perm(length, size) if length >= size else 0
        if count == 0:
            self.fail(event, f"{self._source.dotted!r} has {length} items, fewer than {size}")
            return [event]
        if count > self.options.max_permutations:
            limit = self.options.max_permutations
            self.fail(event, f"{count} permutations, more than max_permutations ({limit})")
            return [event]
        context = self._context.get(event) if self._use_context else MISSING
        copies = []
        for number, permutation in enumerate(itertools.permutations(items, size)):
            clone = copy_event(event, number)
            if isinstance(context, dict):
                self._add_context(clone, context, permutation)
            self._set_all(clone, zip(self._targets, permutation, strict=True))
            copies.append(clone)
        self.stats.incr("permutations", len(copies))
        return copies

    def _add_context(self, clone: Event, context: dict[Any, Any], items: tuple[Any, ...]) -> None:
        for position, item in enumerate(items):
            try:
                data = context.get(item)
            except TypeError:  # an unhashable item (a list or map) has no context entry
                continue
            if isinstance(data, dict):
                self._set_all(
                    clone,
                    (
                        (targets[position], data[key])
                        for key, targets in self._mapping
                        if key in data
                    ),
                )

    def _set_all(self, clone: Event, values: Any) -> None:
        target: FieldPath
        for target, value in values:
            try:
                target.set(clone, value)
            except (TypeError, ValueError, IndexError) as error:
                self.fail(clone, f"cannot set {target.dotted!r}: {error}")
