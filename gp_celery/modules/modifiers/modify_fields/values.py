"""Actions that change a field's value: replace, map, cast, change case, hash."""

from __future__ import annotations

import hashlib
import importlib
import math
import re
from collections.abc import Callable
from typing import Any, Final

from gp_celery.event import MISSING, Event, field_path
from gp_celery.modules.modifiers.modify_fields.common import (
    Action,
    Reporter,
    describe,
    given,
    missing,
    set_field,
)
from gp_celery.modules.modifiers.modify_fields.options import ModifyFieldsOptions

FALSE_WORDS: Final = frozenset({"false", "0", "no", "off", ""})


def build_string_replace(options: ModifyFieldsOptions, reporter: Reporter) -> Action:
    source, count = field_path(given(options.source_field)), options.max
    old, new = given(options.old), given(options.new)

    def string_replace(event: Event) -> None:
        value = source.get(event)
        if value is MISSING:
            missing(reporter)
        elif not isinstance(value, str):
            reporter.fail(
                event, f"string_replace: {source.dotted!r} is a {describe(value)}, not text"
            )
        else:
            source.set(event, value.replace(old.render(event), new.render(event), count))

    return string_replace


def build_replace(options: ModifyFieldsOptions, reporter: Reporter) -> Action:
    source, regex = field_path(given(options.source_field)), given(options.regex)
    replacement = given(options.with_)
    constant = replacement.render({}) if replacement.is_constant else None

    def replace(event: Event) -> None:
        value = source.get(event)
        if value is MISSING:
            missing(reporter)
        elif not isinstance(value, str):
            reporter.fail(event, f"replace: {source.dotted!r} is a {describe(value)}, not text")
        else:
            try:  # a rendered field value may hold a backslash that is no valid group reference
                result = regex.sub(
                    constant if constant is not None else replacement.render(event), value
                )
            except re.error as error:
                reporter.fail(event, f"replace: bad replacement after rendering 'with': {error}")
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


def build_map(options: ModifyFieldsOptions, reporter: Reporter) -> Action:
    source = field_path(given(options.source_field))
    target = field_path(options.target_field or f"{source.dotted}_mapped")
    lookup, keep = build_map_table(options.map or {}), options.keep_unmappable
    unset = object()

    def map_value(event: Event) -> None:
        value = source.get(event)
        if value is MISSING:
            missing(reporter)
            return
        try:
            mapped = lookup.get(value, unset)
        except TypeError:  # a list or dict value cannot be a key
            reporter.fail(event, f"map: {source.dotted!r} is a {describe(value)}, not a map key")
            return
        if mapped is unset:
            reporter.stats.incr("unmapped")
            if not keep:
                return
            mapped = value
        if problem := set_field(target, event, mapped):
            reporter.fail(event, f"map: {problem}")

    return map_value


def cast_to_int(value: Any) -> int:
    if isinstance(value, str):
        value = value.strip()
        try:
            return int(value)  # exact for big integers, which int(float(...)) is not
        except ValueError:
            pass
    if isinstance(value, (str, int, float)):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError("not a finite number")
        return int(number)
    raise TypeError


def cast_to_float(value: Any) -> float:
    if isinstance(value, (str, int, float)):
        return float(value)
    raise TypeError


def cast_to_str(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def cast_to_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in FALSE_WORDS
    return bool(value)


CASTS: Final[dict[str, Callable[[Any], Any]]] = {
    "cast_to_int": cast_to_int,
    "cast_to_float": cast_to_float,
    "cast_to_str": cast_to_str,
    "cast_to_bool": cast_to_bool,
}


def _build_per_field(
    options: ModifyFieldsOptions, reporter: Reporter, convert: Callable[[Any], Any]
) -> Action:
    """Apply ``convert`` to every source field, in place or into the matching target field.

    A value ``convert`` rejects (ValueError, TypeError, OverflowError) tags the event and
    stays as it was. GambolPutty wrote 0 instead, which hid bad data as real zeros.
    """
    sources = [field_path(name) for name in options.source_fields or ()]
    targets = [field_path(name) for name in options.target_fields] or sources
    action = options.action

    def per_field(event: Event) -> None:
        for source, target in zip(sources, targets, strict=True):
            value = source.get(event)
            if value is MISSING:
                missing(reporter)
                continue
            try:
                converted = convert(value)
            except (ValueError, TypeError, OverflowError):
                reporter.fail(
                    event, f"{action}: cannot convert {source.dotted!r} ({describe(value)})"
                )
                continue
            if problem := set_field(target, event, converted):
                reporter.fail(event, f"{action}: {problem}")

    return per_field


def build_cast(options: ModifyFieldsOptions, reporter: Reporter) -> Action:
    return _build_per_field(options, reporter, CASTS[options.action])


def _text_only(method: Callable[[str], str]) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if not isinstance(value, str):
            raise TypeError
        return method(value)

    return convert


def build_case(options: ModifyFieldsOptions, reporter: Reporter) -> Action:
    method = str.lower if options.action == "lowercase" else str.upper
    return _build_per_field(options, reporter, _text_only(method))


def hasher(algorithm: str, salt: str) -> Callable[[Any], Any]:
    """Hex digest of ``salt + str(value)``; murmur: mmh3's signed 32-bit int, as GambolPutty."""
    if algorithm == "murmur":
        mmh3 = importlib.import_module("mmh3")  # checked at load; imported only when used

        def murmur(value: Any) -> Any:
            return mmh3.hash(salt + cast_to_str(value))

        return murmur

    def digest(value: Any) -> str:
        data = (salt + cast_to_str(value)).encode("utf-8", "surrogatepass")
        return hashlib.new(algorithm, data, usedforsecurity=False).hexdigest()

    return digest


def build_hash(options: ModifyFieldsOptions, reporter: Reporter) -> Action:
    return _build_per_field(options, reporter, hasher(options.algorithm, options.salt or ""))
