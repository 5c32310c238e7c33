"""Actions that turn 'k=v;k2=v2' text into fields: key_value and key_value_regex."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal

from pydantic import field_validator

from gp_celery.event import META, MISSING, Event, field_path
from gp_celery.modules.modifiers.modify_fields.common import (
    Action,
    Reporter,
    describe,
    missing,
    set_field,
)
from gp_celery.modules.modifiers.modify_fields.options import ModifyFieldsOptions, Separator
from gp_celery.modules.types import FieldName, FlaggedRegex

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


class _PairsOptions(ModifyFieldsOptions):
    """What key_value and key_value_regex share: where the text is and the pairs go."""

    source_field: FieldName
    """The text holding the pairs."""
    target_field: FieldName | None = None
    """Put the pairs into this field as a dict; None = merge them into the event."""
    prefix: str | None = None
    """Put in front of every key."""

    def _store(self, reporter: Reporter, extract: Pairs) -> Action:
        source = field_path(self.source_field)
        target = field_path(self.target_field) if self.target_field else None
        prefix, action = self.prefix or "", self.action

        def store_pairs(event: Event) -> None:
            value = source.get(event)
            if value is MISSING:
                missing(reporter)
                return
            if not isinstance(value, str):
                reason = f"{source.dotted!r} is a {describe(value)}, not text"
                reporter.fail(event, f"{action}: {reason}")
                return
            pairs = extract(value)
            if prefix:
                pairs = {prefix + key: item for key, item in pairs.items()}
            if target is not None:
                if problem := set_field(target, event, pairs):
                    reporter.fail(event, f"{action}: {problem}")
                return
            if META in pairs:  # data must never overwrite the event's metadata
                del pairs[META]
                reporter.fail(event, f"{action}: key {META!r} in the data was skipped")
            event.update(pairs)

        return store_pairs


class KeyValueOptions(_PairsOptions):
    """Split text into pairs, then each pair into key and value (at its first separator)."""

    action: Literal["key_value"]
    line_separator: Separator
    """Separates the pairs."""
    kv_separator: Separator
    """Separates key from value (the first one in a pair counts)."""

    def build(self, reporter: Reporter) -> Action:
        line_separator, kv_separator = self.line_separator, self.kv_separator

        def extract(text: str) -> dict[str, str]:
            pairs, malformed = split_pairs(text, line_separator, kv_separator)
            if malformed:
                reporter.stats.incr("malformed_pairs", malformed)
            return pairs

        return self._store(reporter, extract)


class KeyValueRegexOptions(_PairsOptions):
    """Find every key/value pair with a regex of two groups."""

    action: Literal["key_value_regex"]
    regex: FlaggedRegex
    """Two groups, key and value, e.g. '([^=&?]+)=([^&=?]+)'; or [pattern, flags]."""

    @field_validator("regex")
    @classmethod
    def _two_groups(cls, regex: re.Pattern[str]) -> re.Pattern[str]:
        if regex.groups != 2:
            raise ValueError(f"needs two groups (key, value), found {regex.groups}")
        return regex

    def build(self, reporter: Reporter) -> Action:
        regex = self.regex

        def extract(text: str) -> dict[str, str]:
            return dict(regex.findall(text))

        return self._store(reporter, extract)
