"""MsgPackParser: msgpack documents or per-connection msgpack streams into events."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Final, Literal

import msgpack
from pydantic import Field

from gp_celery.event import (
    MISSING,
    RECEIVED_FROM,
    SOURCE_MODULE,
    Batch,
    Event,
    FieldPath,
    copy_event,
)
from gp_celery.event import metadata as meta_of
from gp_celery.modules.base import Example
from gp_celery.modules.parsers.binary import as_bytes
from gp_celery.modules.parsers.codec import CodecOptions, CodecParser, describe
from gp_celery.modules.registry import register

MIB: Final = 1024 * 1024
_REASONS: Final = {
    msgpack.StackError: "nested too deeply",
    msgpack.FormatError: "invalid format byte",
    msgpack.ExtraData: "extra bytes after the document",
    msgpack.BufferFull: "stream buffer full",
}


def reason_of(error: Exception) -> str:
    return _REASONS.get(type(error)) or str(error) or type(error).__name__


def _packable(value: Any) -> Any:
    """What msgpack cannot pack: sets become lists, anything else its str()."""
    if isinstance(value, (set, frozenset)):
        return list(value)
    return str(value)


class MsgPackParserOptions(CodecOptions):
    mode: Literal["line", "stream"] = "line"
    """line: each value is one document (default); stream: a byte stream per connection."""
    max_buffer_bytes: int = Field(default=MIB, gt=0)
    """Stream mode: most bytes buffered for one connection's unfinished object (1 MiB)."""
    max_streams: int = Field(default=256, gt=0)
    """Stream mode: connections buffered at once; the least recently active goes first."""


@register
class MsgPackParser(CodecParser[MsgPackParserOptions]):
    """Decode msgpack from fields into the event, or encode fields as msgpack.

    Input contract: a field holds the received bytes, either as bytes or as str decoded
    with ``errors='surrogateescape'`` (how inputs hand over undecodable data); a str is
    encoded back with ``'utf-8', 'surrogateescape'`` to recover the original bytes. Other
    types, and str with surrogates that escape did not make, are tagged.

    ``mode: line``: each value is one msgpack document (``raw=False``, map keys must be
    strings). A map merges into the event or goes to target_field; a list of maps makes one
    event per map (more than ``max_fan_out`` tags the event instead); any other value needs
    target_field, else the event is tagged. Invalid, truncated or over-deep documents and
    extra bytes tag the event, which goes on unchanged.

    ``mode: stream``: values are chunks of a byte stream. Each connection (``gambolputty.
    source_module`` and ``received_from``, and the field) gets its own unpacker, so
    interleaved TCP clients no longer corrupt each other (GambolPutty shared one). Every
    complete object becomes an event: the first reuses the chunk's event, the rest are copies;
    a non-map without target_field goes into the source field, tagged (a chunk can make at
    most one event per byte, and chunks are bounded by the input). A chunk that completes
    no object is buffered and its event consumed (its bytes arrive in a later event). Bad
    data or a full buffer (``max_buffer_bytes``) tags the chunk's event, passes it on with
    its data, and restarts that connection's stream. At most ``max_streams`` are kept; the
    least recently active one is dropped with its unfinished object (``streams_evicted``).
    A stream lives in one worker process: all chunks of a connection must reach the same one.

    Encode: the present source fields as one map (GambolPutty packed a list of one-key maps),
    or with ``source_fields: all`` the whole event, packed into target_field ('data' when
    unset). GambolPutty replaced the event itself by the bytes; the event stays a dict here.
    """

    aliases = ("parser.MsgPack",)
    reads_raw_datagrams = True  # msgpack is binary: UdpServer and Zmq keep it whole
    examples = [
        Example(
            options={},
            given=[{"data": msgpack.packb({"south": "african", "n": 1})}],
            expect=[{"south": "african", "n": 1}],
        ),
        Example(
            options={"action": "encode", "source_fields": ["a"], "target_field": "packed"},
            given=[{"a": [1, "x"]}],
            expect=[{"packed": b"\x81\xa1a\x92\x01\xa1x"}],
        ),
    ]

    def setup(self) -> None:
        super().setup()
        self._streams: OrderedDict[tuple[str, ...], Any] = OrderedDict()

    def decode(self, value: Any) -> Any:
        data = as_bytes(value, "msgpack bytes")
        try:
            return msgpack.unpackb(data, raw=False)
        except (ValueError, msgpack.UnpackException) as error:
            raise ValueError(f"is not valid msgpack: {reason_of(error)}") from None

    def encode(self, value: Any) -> bytes:
        packed: bytes = msgpack.packb(value, use_bin_type=True, default=_packable)
        return packed

    def decode_field(self, event: Event, path: FieldPath) -> Batch:
        if self.options.mode == "line":
            return super().decode_field(event, path)
        value = path.get(event)
        if value is MISSING:
            self.stats.incr("missing_source")
            return [event]
        try:
            chunk = as_bytes(value, "msgpack bytes")
        except ValueError as error:
            self.fail(event, f"'{path.dotted}' {error}")
            return [event]
        key = self._key(event, path)
        unpacker = self._unpacker(key)
        objects: list[Any] = []
        try:
            unpacker.feed(chunk)
            for obj in unpacker:
                objects.append(obj)
        except (ValueError, msgpack.UnpackException) as error:
            del self._streams[key]
            out = self._object_events(event, path, objects, reuse=False)
            reason = f"is not a valid msgpack stream: {reason_of(error)}; the stream restarts"
            self.fail(event, f"'{path.dotted}' {reason}")
            return [*out, event]
        if not objects:
            self.stats.incr("buffered_chunks")
        return self._object_events(event, path, objects, reuse=True)

    def _key(self, event: Event, path: FieldPath) -> tuple[str, ...]:
        meta = meta_of(event)
        return str(meta.get(SOURCE_MODULE)), str(meta.get(RECEIVED_FROM)), path.dotted

    def _unpacker(self, key: tuple[str, ...]) -> Any:
        streams = self._streams
        unpacker = streams.get(key)
        if unpacker is not None:
            streams.move_to_end(key)
            return unpacker
        limit = self.options.max_buffer_bytes
        unpacker = streams[key] = msgpack.Unpacker(raw=False, max_buffer_size=limit)
        if len(streams) > self.options.max_streams:
            streams.popitem(last=False)
            self.stats.incr("streams_evicted")
            self.warn_limited(
                "streams_evicted",
                "more than %d msgpack streams; dropped the least recently active one "
                "with its unfinished object (%d so far).",
                self.options.max_streams,
                self.stats.counts["streams_evicted"],
            )
        return unpacker

    def _object_events(
        self, event: Event, path: FieldPath, objects: list[Any], reuse: bool
    ) -> Batch:
        """One event per object: ``event`` itself first when reuse, else copies only."""
        keep = self.options.keep_original
        if reuse and objects and not keep:
            path.delete(event)
        first = 1 if reuse else 0
        events = [event] if reuse and objects else []
        for branch in range(first, len(objects)):
            copy = copy_event(event, branch + 1 - first)
            if not keep:
                path.delete(copy)
            events.append(copy)
        target = self._target
        for each, obj in zip(events, objects, strict=True):
            if target is not None:
                target.set(each, obj)
            elif isinstance(obj, dict):
                self.merge(each, obj)
            else:
                path.set(each, obj)
                reason = f"held {describe(obj)}, not a map to merge into the event"
                self.fail(each, f"'{path.dotted}' {reason}; set target_field to keep it there")
        return events
