"""What the text parsers share: reading the source field as text, and merging parsed
fields into the top level of an event without touching its metadata."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from gp_celery.event import LUMBERMILL_META, META, MISSING, Event, FieldPath
from gp_celery.modules.base import Module

RESERVED_KEYS: Final = frozenset({META, LUMBERMILL_META})
"""Top-level keys a parser never writes: the event's metadata (under either name)."""


def text_of(module: Module[Any], event: Event, path: FieldPath) -> str | None:
    """The value at ``path`` as text, or None.

    A missing field is None untagged (counted as ``missing_source``): the event passes on
    as in GambolPutty. Bytes are decoded as UTF-8; invalid UTF-8 and values that are not
    text (numbers, None, lists, maps) tag the event.
    """
    value = path.get(event)
    if isinstance(value, str):
        return value
    if value is MISSING:
        module.stats.incr("missing_source")
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError as error:
            where = f"{error.reason} at byte {error.start}"
            module.fail(event, f"'{path.dotted}' is not valid UTF-8 ({where})")
            return None
    module.fail(event, f"'{path.dotted}' is {type(value).__name__}, not text")
    return None


def merge_fields(module: Module[Any], event: Event, values: Mapping[str, Any]) -> None:
    """Write ``values`` at the top level of ``event``; a key that would replace the
    metadata ('gambolputty', 'lumbermill') is left out and the event tagged."""
    for key, value in values.items():
        if key in RESERVED_KEYS:
            module.fail(event, f"parsed key '{key}' would overwrite the event's metadata; left out")
            continue
        event[key] = value
