"""Actions that rename: one field (rename), or every key that matches (rename_regex/_replace)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import AliasChoices, Field, ValidationInfo, field_validator

from gp_celery.event import META, MISSING, Event, FieldPath, field_path
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
    constant_text,
)
from gp_celery.modules.types import FieldName, FlaggedRegex, Template


def _nested(one: FieldPath, other: FieldPath) -> bool:
    a, b = one.parts, other.parts
    return a[: len(b)] == b or b[: len(a)] == a


class RenameOptions(ModifyFieldsOptions):
    """Move a field's value to another name."""

    action: Literal["rename"]
    source_field: FieldName
    """The field to rename."""
    target_field: FieldName
    """Its new name."""

    def build(self, reporter: Reporter) -> Action:
        source, target = field_path(self.source_field), field_path(self.target_field)
        # 'a' -> 'a.b' and 'a.b' -> 'a' must take the value out first; otherwise write the
        # target first, so that a target that cannot be written leaves the source where it was.
        take_first = _nested(source, target)

        def rename(event: Event) -> None:
            if source.dotted == target.dotted:
                return
            value = source.delete(event) if take_first else source.get(event)
            if value is MISSING:
                missing(reporter)
            elif problem := set_field(target, event, value):
                if take_first:
                    set_field(source, event, value)  # put it back; the tag says what happened
                reporter.fail(event, f"rename: {problem}")
            elif not take_first:
                source.delete(event)

        return rename


def rename_keys(
    root: dict[Any, Any], new_name: Callable[[str], str], recursive: bool, is_event: bool
) -> None:
    """Rename the keys of a dict (and, recursively, of nested dicts) without recursion.

    An explicit stack instead of recursion, so hostile, deeply nested data cannot raise
    RecursionError. The metadata key of the event itself is never renamed.
    """
    stack, seen = [(root, is_event)], {id(root)}
    while stack:
        current, at_event = stack.pop()
        renames = []
        for key, child in current.items():
            if at_event and key == META:
                continue
            if recursive and isinstance(child, dict) and id(child) not in seen:
                seen.add(id(child))  # a dict reachable twice is renamed once
                stack.append((child, False))
            if isinstance(key, str) and (renamed := new_name(key)) != key:
                renames.append((key, renamed))
        for key, renamed in renames:
            current[renamed] = current.pop(key)


class _KeyRenameOptions(ModifyFieldsOptions):
    """What rename_regex and rename_replace share: where to rename, and how deep."""

    source_field: FieldName | None = None
    """The dict whose keys are renamed; None = the whole event (its metadata is spared)."""
    recursive: bool = True
    """Also rename the keys of nested dicts."""

    def _renamer(self, reporter: Reporter, new_name: Callable[[str], str]) -> Action:
        source = field_path(self.source_field) if self.source_field else None
        name, recursive = self.action, self.recursive

        def rename_all(event: Event) -> None:
            root = event if source is None else source.get(event)
            if root is MISSING:
                missing(reporter)
            elif not isinstance(root, dict):
                where = source.dotted if source else "event"
                reporter.fail(event, f"{name}: {where!r} is a {describe(root)}, not a dict")
            else:
                rename_keys(root, new_name, recursive, is_event=source is None)

        return rename_all


class RenameRegexOptions(_KeyRenameOptions):
    """Rename every key the regex matches to ``regex.sub(target_field_pattern, key)``."""

    action: Literal["rename_regex"]
    regex: FlaggedRegex
    """Pattern, or [pattern, flags] with flags such as 're.I | re.M'."""
    target_field_pattern: str = Field(
        validation_alias=AliasChoices("target_field_pattern", "replace")
    )
    """The new name; \\1 and \\g<name> refer to groups (LumberMill: 'replace')."""

    @field_validator("target_field_pattern")
    @classmethod
    def _parses(cls, pattern: str, info: ValidationInfo) -> str:
        check_replacement(info.data.get("regex"), pattern)
        return pattern

    def build(self, reporter: Reporter) -> Action:
        regex, pattern = self.regex, self.target_field_pattern

        def new_name(key: str) -> str:
            return regex.sub(pattern, key)

        return self._renamer(reporter, new_name)


class RenameReplaceOptions(_KeyRenameOptions):
    """Replace text in every key, e.g. dots by underscores for Elasticsearch."""

    action: Literal["rename_replace"]
    old: Template
    """The text to replace in key names (no $(...): keys are renamed, not values)."""
    new: Template
    """The replacement text (no $(...))."""

    @field_validator("old", "new")
    @classmethod
    def _constant(cls, template: Template) -> Template:
        constant_text(template)
        return template

    def build(self, reporter: Reporter) -> Action:
        old, new = constant_text(self.old), constant_text(self.new)

        def new_name(key: str) -> str:
            return key.replace(old, new)

        return self._renamer(reporter, new_name)
