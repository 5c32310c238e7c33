"""Actions that add, remove, move or regroup fields."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from gp_celery import expressions
from gp_celery.event import MISSING, Event, FieldPath, field_path
from gp_celery.modules.modifiers.modify_fields.common import (
    Action,
    Reporter,
    describe,
    given,
    missing,
    set_field,
)
from gp_celery.modules.modifiers.modify_fields.options import ModifyFieldsOptions

META_KEY = "gambolputty"


def _paths(names: tuple[str, ...] | None) -> list[FieldPath]:
    return [field_path(name) for name in names or ()]


def _one(name: str | None) -> FieldPath:
    return field_path(given(name))


def build_keep(options: ModifyFieldsOptions, reporter: Reporter) -> Action:
    # A dotted name keeps its whole top-level field: a partial keep inside a dict is not defined.
    kept = {name.split(".")[0] for name in options.source_fields or ()} | {META_KEY}

    def keep(event: Event) -> None:
        for key in [key for key in event if key not in kept]:
            del event[key]

    return keep


def build_delete(options: ModifyFieldsOptions, reporter: Reporter) -> Action:
    paths = _paths(options.source_fields)

    def delete(event: Event) -> None:
        for path in paths:
            if path.delete(event) is MISSING:
                missing(reporter)

    return delete


def _present(paths: list[FieldPath], event: Event, reporter: Reporter) -> list[Any]:
    values = []
    for path in paths:
        value = path.get(event)
        if value is MISSING:
            missing(reporter)
        else:
            values.append(value)
    return values


def build_concat(options: ModifyFieldsOptions, reporter: Reporter) -> Action:
    paths, target = _paths(options.source_fields), _one(options.target_field)

    def concat(event: Event) -> None:
        text = "".join(str(value) for value in _present(paths, event, reporter))
        if problem := set_field(target, event, text):
            reporter.fail(event, f"concat: {problem}")

    return concat


def build_merge(options: ModifyFieldsOptions, reporter: Reporter) -> Action:
    paths, target = _paths(options.source_fields), _one(options.target_field)

    def merge(event: Event) -> None:
        if problem := set_field(target, event, _present(paths, event, reporter)):
            reporter.fail(event, f"merge: {problem}")

    return merge


def build_insert(options: ModifyFieldsOptions, reporter: Reporter) -> Action:
    target, value = _one(options.target_field), options.value

    def insert(event: Event) -> None:
        if isinstance(value, expressions.Template):
            new = value.render(event)  # a missing field renders as '' (GambolPutty: '%(x)s')
        else:
            new = copy.deepcopy(value)  # events must not share one mutable list or dict
        if problem := set_field(target, event, new):
            reporter.fail(event, f"insert: {problem}")

    return insert


def _nested(one: FieldPath, other: FieldPath) -> bool:
    a, b = one.parts, other.parts
    return a[: len(b)] == b or b[: len(a)] == a


def build_rename(options: ModifyFieldsOptions, reporter: Reporter) -> Action:
    source, target = _one(options.source_field), _one(options.target_field)
    # 'a' -> 'a.b' and 'a.b' -> 'a' must take the value out first; otherwise write the target
    # first, so that a target that cannot be written leaves the source where it was.
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
            if at_event and key == META_KEY:
                continue
            if recursive and isinstance(child, dict) and id(child) not in seen:
                seen.add(id(child))  # a dict reachable twice is renamed once
                stack.append((child, False))
            if isinstance(key, str) and (renamed := new_name(key)) != key:
                renames.append((key, renamed))
        for key, renamed in renames:
            current[renamed] = current.pop(key)


def _build_key_renamer(
    options: ModifyFieldsOptions, reporter: Reporter, name: str, new_name: Callable[[str], str]
) -> Action:
    source = field_path(options.source_field) if options.source_field else None

    def rename_all(event: Event) -> None:
        root = event if source is None else source.get(event)
        if root is MISSING:
            missing(reporter)
        elif not isinstance(root, dict):
            where = source.dotted if source else "event"
            reporter.fail(event, f"{name}: {where!r} is a {describe(root)}, not a dict")
        else:
            rename_keys(root, new_name, options.recursive, is_event=source is None)

    return rename_all


def build_rename_regex(options: ModifyFieldsOptions, reporter: Reporter) -> Action:
    regex, pattern = given(options.regex), options.target_field_pattern or ""

    def new_name(key: str) -> str:
        return regex.sub(pattern, key)

    return _build_key_renamer(options, reporter, "rename_regex", new_name)


def build_rename_replace(options: ModifyFieldsOptions, reporter: Reporter) -> Action:
    old, new = given(options.old).render({}), given(options.new).render({})  # constant: checked

    def new_name(key: str) -> str:
        return key.replace(old, new)

    return _build_key_renamer(options, reporter, "rename_replace", new_name)


def build_split(options: ModifyFieldsOptions, reporter: Reporter) -> Action:
    source = _one(options.source_field)
    target = field_path(options.target_field) if options.target_field else source
    separator = options.separator

    def split(event: Event) -> None:
        value = source.get(event)
        if value is MISSING:
            missing(reporter)
        elif not isinstance(value, str):
            reporter.fail(event, f"split: {source.dotted!r} is a {describe(value)}, not text")
        elif problem := set_field(target, event, value.split(separator)):
            reporter.fail(event, f"split: {problem}")

    return split


def build_join(options: ModifyFieldsOptions, reporter: Reporter) -> Action:
    source, target, separator = (
        _one(options.source_field),
        _one(options.target_field),
        options.separator,
    )

    def join(event: Event) -> None:
        value = source.get(event)
        if value is MISSING:
            missing(reporter)
        elif not isinstance(value, (list, tuple)):
            reporter.fail(event, f"join: {source.dotted!r} is a {describe(value)}, not a list")
        else:
            text = separator.join(item if isinstance(item, str) else str(item) for item in value)
            if problem := set_field(target, event, text):
                reporter.fail(event, f"join: {problem}")

    return join
