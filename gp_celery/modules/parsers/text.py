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
    return as_text(module, event, path.dotted, value)


def as_text(
    module: Module[Any], event: Event, field: str, value: Any, *, lossy: str = ""
) -> str | None:
    """``value`` (of ``field``) as text, or None after tagging the event.

    A str (subclass too) is text; bytes are decoded as UTF-8. Invalid UTF-8 tags the event:
    with ``lossy`` (what happens next, e.g. 'matched') it is decoded with U+FFFD and the
    parser goes on, else None. Anything else (a number, None, a list, a map, a missing
    field) tags the event and gives None.
    """
    if isinstance(value, str):
        return value if type(value) is str else str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as error:
            where = f"{error.reason} at byte {error.start}"
            then = f"; {lossy} with U+FFFD" if lossy else ""
            module.fail(event, f"'{field}' is not valid UTF-8 ({where}){then}")
            return raw.decode("utf-8", errors="replace") if lossy else None
    if value is MISSING:
        module.fail(event, f"'{field}' is missing")
    else:
        module.fail(event, f"'{field}' is {type(value).__name__}, not text")
    return None


def merge_fields(module: Module[Any], event: Event, values: Mapping[str, Any]) -> None:
    """Write ``values`` at the top level of ``event``; a key that would replace the
    metadata ('gambolputty', 'lumbermill') is left out and the event tagged."""
    for key, value in values.items():
        if key in RESERVED_KEYS:
            module.fail(event, f"parsed key '{key}' would overwrite the event's metadata; left out")
            continue
        event[key] = value
