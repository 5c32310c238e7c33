"""Actions that turn 'k=v;k2=v2' text into fields: key_value and key_value_regex."""

from __future__ import annotations

from collections.abc import Callable

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
from gp_celery.modules.modifiers.modify_fields.structure import META_KEY

Pairs = Callable[[str], dict[str, str]]


def split_pairs(text: str, line_separator: str, kv_separator: str) -> tuple[dict[str, str], int]:
    """Pairs of ``text`` and how many pieces were malformed (no separator or empty key).

    GambolPutty dropped every pair when one was malformed; we keep the good ones, split a pair
    at its first separator (values such as base64 'x==' keep theirs), and skip empty pieces,
    which a trailing line separator leaves.
    """
    pairs: dict[str, str] = {}
    malformed = 0
    for piece in text.split(line_separator):
        if not piece:
            continue
        key, found, value = piece.partition(kv_separator)
        if not found or not key:
            malformed += 1
            continue
        pairs[key] = value
    return pairs, malformed


def _build_pairs_action(options: ModifyFieldsOptions, reporter: Reporter, extract: Pairs) -> Action:
    source = field_path(given(options.source_field))
    target = field_path(options.target_field) if options.target_field else None
    prefix, action = options.prefix or "", options.action

    def store_pairs(event: Event) -> None:
        value = source.get(event)
        if value is MISSING:
            missing(reporter)
            return
        if not isinstance(value, str):
            reporter.fail(event, f"{action}: {source.dotted!r} is a {describe(value)}, not text")
            return
        pairs = extract(value)
        if prefix:
            pairs = {prefix + key: item for key, item in pairs.items()}
        if target is not None:
            if problem := set_field(target, event, pairs):
                reporter.fail(event, f"{action}: {problem}")
            return
        if META_KEY in pairs:  # data must never overwrite the event's metadata
            del pairs[META_KEY]
            reporter.fail(event, f"{action}: key {META_KEY!r} in the data was skipped")
        event.update(pairs)

    return store_pairs


def build_key_value(options: ModifyFieldsOptions, reporter: Reporter) -> Action:
    line_separator, kv_separator = options.line_separator or "", options.kv_separator or ""

    def extract(text: str) -> dict[str, str]:
        pairs, malformed = split_pairs(text, line_separator, kv_separator)
        if malformed:
            reporter.stats.incr("malformed_pairs", malformed)
        return pairs

    return _build_pairs_action(options, reporter, extract)


def build_key_value_regex(options: ModifyFieldsOptions, reporter: Reporter) -> Action:
    regex = given(options.regex)

    def extract(text: str) -> dict[str, str]:
        return dict(regex.findall(text))  # the validator made sure of two groups

    return _build_pairs_action(options, reporter, extract)
