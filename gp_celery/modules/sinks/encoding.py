"""What sinks share: a batch as bytes (JSON or rendered lines) and which OS errors to retry.

Used by FileSink and StdOutSink: both write a whole batch with one call, and both must not
let one odd event (a set, bytes, a lone surrogate, an int beyond 64 bits) fail the batch.
"""

from __future__ import annotations

import errno
import json
import re
from collections.abc import Sequence
from typing import Final

import orjson

from gp_celery import expressions
from gp_celery.event import Event
from gp_celery.modules.parsers.codec import jsonable

RETRIABLE_ERRNOS: Final = frozenset(
    {
        errno.ENOSPC,  # disk full: space may be freed
        errno.EDQUOT,  # quota: likewise
        errno.EIO,  # I/O error: often a transient device or network-filesystem problem
        errno.EAGAIN,
        errno.EINTR,
        errno.EBUSY,
        errno.EMFILE,  # too many open files in this process / system: handles get closed
        errno.ENFILE,
        errno.ENOMEM,
        errno.ETIMEDOUT,  # network filesystems
        errno.ESTALE,
        errno.ENOLCK,
    }
)
"""Errors that trying again later can fix. Everything else (EACCES, EPERM, EISDIR, ENOTDIR,
ENAMETOOLONG, EROFS, EPIPE, ELOOP, EINVAL, ...) needs a person, so the runner dead-letters it."""

_LONE_SURROGATE: Final = re.compile("[\ud800-\udfff]")

Encoded = tuple[bytes, list[tuple[int, str]]]
"""The payload of the events that could be encoded, and (index, reason) for those that could not."""


def is_retriable(error: OSError) -> bool:
    """Can writing again later succeed without anyone changing anything?"""
    return error.errno in RETRIABLE_ERRNOS


def json_line(event: Event) -> bytes:
    """One event as compact JSON; odd values are converted, never dropped.

    orjson handles the common case; its fallback converts bytes, sets and other objects
    and allows non-string keys; the stdlib covers ints beyond 64 bits and lone surrogates
    (which strict JSON parsers reject, so they become U+FFFD). Raises ValueError,
    TypeError or RecursionError only for what JSON cannot hold at all: a dict that
    contains itself, tuple keys, absurd nesting.
    """
    try:
        return orjson.dumps(event)
    except TypeError:
        pass
    try:
        return orjson.dumps(event, default=jsonable, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        text = json.dumps(event, default=jsonable, ensure_ascii=False)
        return _LONE_SURROGATE.sub("\ufffd", text).encode("utf-8")


def encode_json_lines(events: Sequence[Event]) -> Encoded:
    """Every event as one JSON line.

    Appending each orjson result to one bytearray lets every small bytes object be freed at
    once; holding 500 of them for a join measured ten times slower (allocator churn).
    """
    payload = bytearray()
    try:
        for event in events:
            payload += orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError:
        return _encode_one_by_one(events)
    return bytes(payload), []


def _encode_one_by_one(events: Sequence[Event]) -> Encoded:
    payload, failed = bytearray(), []
    for index, event in enumerate(events):
        try:
            payload += json_line(event) + b"\n"
        except (TypeError, ValueError, RecursionError) as error:
            failed.append((index, f"cannot encode the event as JSON: {error}"))
    return bytes(payload), failed


def encode_text(text: str) -> bytes:
    """UTF-8; bytes that an input kept as surrogate escapes go out as they came in."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace")


def encode_rendered(events: Sequence[Event], template: expressions.Template) -> Encoded:
    """Every event as its rendered template plus a newline (a missing field renders as '')."""
    render = template.render
    return encode_text("".join([render(event) + "\n" for event in events])), []
