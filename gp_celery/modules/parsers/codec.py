"""What the codec parsers (JsonParser, MsgPackParser) share: options, decode/encode into
events, and the JSON helpers (``loads`` with GambolPutty's concatenated documents, ``jsonable``
for values JSON has no word for), which the sinks' encoding uses too.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final, Literal, TypeVar

import orjson
from pydantic import Field

from gp_celery.event import (
    META,
    MISSING,
    Batch,
    Event,
    FieldPath,
    copy_event,
    field_path,
    metadata,
)
from gp_celery.modules.base import Options, Parser
from gp_celery.modules.types import FieldName, FieldNames

_WHITESPACE: Final = re.compile(r"[ \t\n\r]*")
_SPLITTER: Final = json.JSONDecoder()


class CodecOptions(Options):
    """Options shared by the parsers that decode a format into the event or encode to it."""

    action: Literal["decode", "encode"] = "decode"
    """decode: parse the source fields into the event; encode: the reverse (default decode)."""
    mode: Literal["line", "stream"] = "line"
    """line: each value is one document (default); stream: see the module's description."""
    source_fields: FieldNames = ("data",)
    """Field or list of fields to read (default 'data'); for encode, 'all' is the whole event."""
    target_field: FieldName | None = None
    """Decode: put the value here instead of merging it (default None); encode: 'data'."""
    keep_original: bool = False
    """Keep the source fields after decoding or encoding (default False)."""
    max_fan_out: int = Field(default=10_000, gt=0)
    """Most events one value may become (a list of maps); above it, tag and leave whole."""


CodecOptionsT = TypeVar("CodecOptionsT", bound=CodecOptions)


def describe(value: Any) -> str:
    """'a list of 3 items', 'an int': how a tag names a value without printing it."""
    if isinstance(value, list):
        return f"a list of {len(value)} items" if value else "an empty list"
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


class CodecParser(Parser[CodecOptionsT]):
    """Decode source fields into the event (merge, or target_field), or encode them.

    Subclasses supply ``decode(value) -> Any`` and ``encode(value) -> Any``; both raise
    ValueError or TypeError with a reason that reads after the field name.
    """

    def setup(self) -> None:
        options = self.options
        self._sources = tuple(field_path(name) for name in options.source_fields)
        self._target = field_path(options.target_field) if options.target_field else None
        self._whole_event = options.action == "encode" and options.source_fields == ("all",)

    def decode(self, value: Any) -> Any:
        raise NotImplementedError

    def encode(self, value: Any) -> Any:
        raise NotImplementedError

    def process(self, events: Batch) -> Batch:
        if self.options.action == "encode":
            for event in events:
                self._encode_event(event)
            return events
        out: Batch = []
        for event in events:
            produced = [event]
            for path in self._sources:
                produced = [each for old in produced for each in self.decode_field(old, path)]
            out.extend(produced)
        return out

    def decode_field(self, event: Event, path: FieldPath) -> Batch:
        """Decode one field of one event; returns the event, or it and its fan-out copies."""
        value = path.get(event)
        if value is MISSING:
            self.stats.incr("missing_source")
            return [event]
        try:
            decoded = self.decode(value)
        except ValueError as error:
            self.fail(event, f"'{path.dotted}' {error}")
            return [event]
        if not (
            isinstance(decoded, list) and decoded and all(isinstance(d, dict) for d in decoded)
        ):
            return self.place(event, path, [decoded])
        if len(decoded) > self.options.max_fan_out:
            limit = self.options.max_fan_out
            self.fail(event, f"'{path.dotted}' holds {len(decoded)} maps, over max_fan_out={limit}")
            return [event]
        return self.place(event, path, decoded)

    def place(self, event: Event, path: FieldPath, values: list[Any]) -> Batch:
        """Put decoded values into the event, one value per event.

        The first value reuses ``event``; the others go into copies with derived ids. A value
        that is not a map and has no target_field tags the event, which goes on unchanged.
        """
        target = self._target
        if target is None and not all(isinstance(value, dict) for value in values):
            odd = next(value for value in values if not isinstance(value, dict))
            self.fail(
                event,
                f"'{path.dotted}' holds {describe(odd)}, not a map to merge into the event; "
                "set target_field to keep it",
            )
            return [event]
        if not self.options.keep_original:
            path.delete(event)
        events = [event, *(copy_event(event, branch) for branch in range(1, len(values)))]
        for each, value in zip(events, values, strict=True):
            if target is not None:
                target.set(each, value)
            else:
                self.merge(each, value)
        return events

    def merge(self, event: Event, values: dict[Any, Any]) -> None:
        """Merge a decoded map at the top level; its metadata merges into the event's."""
        theirs = values.get(META, MISSING)
        if theirs is MISSING:
            event.update(values)
            return
        values = dict(values)
        del values[META]
        event.update(values)
        if isinstance(theirs, dict):
            metadata(event).update(theirs)
        else:
            self.fail(event, f"decoded '{META}' is {describe(theirs)}, not a map; ignored it")

    def _encode_event(self, event: Event) -> None:
        if self._whole_event:
            payload: Any = event
        else:
            payload = {p.dotted: v for p in self._sources if (v := p.get(event)) is not MISSING}
            if not payload:
                self.stats.incr("missing_source")
                return
        try:
            encoded = self.encode(payload)
        except (TypeError, ValueError, OverflowError, RecursionError) as error:
            self.fail(event, f"could not encode: {error}")
            return
        if not self._whole_event and not self.options.keep_original:
            for path in self._sources:
                path.delete(event)
        (self._target or field_path("data")).set(event, encoded)


def loads(raw: str | bytes | bytearray | memoryview, max_documents: int = 10_000) -> Any:
    """orjson, plus GambolPutty's fallback: documents back to back decode to a list."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        if not error.msg.startswith("unexpected content after document"):
            raise ValueError(f"is not valid JSON: {error.msg} at character {error.pos}") from None
    try:
        text = raw if isinstance(raw, str) else bytes(raw).decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"is not valid UTF-8 ({error.reason} at byte {error.start})") from None
    return _concatenated(text, max_documents)


def _concatenated(text: str, max_documents: int) -> list[Any]:
    """Split with the stdlib's raw_decode (linear, no copying), decode each with orjson."""
    documents: list[Any] = []
    index, end = 0, len(text)
    while True:
        space = _WHITESPACE.match(text, index)
        index = space.end() if space else index
        if index >= end:
            return documents
        if len(documents) == max_documents:
            raise ValueError(f"holds over {max_documents} JSON documents (max_fan_out)")
        try:
            _, stop = _SPLITTER.raw_decode(text, index)
            documents.append(orjson.loads(text[index:stop]))
        except json.JSONDecodeError as error:
            where = f"document {len(documents) + 1}: {error.msg} at character {error.pos}"
            raise ValueError(f"is not valid JSON: {where}") from None
        except RecursionError:
            where = f"document {len(documents) + 1} is nested too deeply"
            raise ValueError(f"is not valid JSON: {where}") from None
        index = stop


def jsonable(value: Any) -> Any:
    """orjson's ``default`` for what JSON has no word for: bytes as text (bad UTF-8
    backslash-escaped), sets and tuples as lists, anything else as its str()."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="backslashreplace")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)
