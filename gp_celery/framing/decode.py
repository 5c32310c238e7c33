"""Worker side (and embedded mode): a chunk's records become events.

The one place where bytes become events, so embedded mode and a fleet give identical events.
Lines are decoded as UTF-8 in bulk: a piece is decoded with one ``.decode()`` and split, and
only a piece that fails to decode (or may hold an overlong line) is handled line by line.
Every event's id is ``<chunk id>-<position>``: the same again when the chunk is redelivered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import msgpack

from gp_celery.codec import unpack
from gp_celery.event import (
    DATA,
    EVENT_ID,
    EVENT_TYPE,
    META,
    RECEIVED_FROM,
    SOURCE_MODULE,
    UNKNOWN_TYPE,
    Batch,
    Event,
    add_error,
)
from gp_celery.framing.chunk import Chunk
from gp_celery.framing.spec import Framing, Piece
from gp_celery.framing.text import ASCII_WHITESPACE, decode_record

Tags = list[tuple[int, str]]
"""(record index within the piece, reason) for records to tag."""
Records = tuple[list[Any], Tags]
"""What a piece decodes to: one payload per record (text, or an event map for 'events'
and decoded msgpack), and the tags."""

_HEX: Final = tuple(f"{number:x}" for number in range(1 << 13))
"""Positions as hex text, made once: formatting one per event costs more than the event."""
_OTHER_BREAKS: Final = ("\x0b", "\x0c", "\x1c", "\x1d", "\x1e")
_OTHER_BREAKS_NON_ASCII: Final = (*_OTHER_BREAKS, "\x85", "\u2028", "\u2029")


@dataclass
class Decoded:
    events: Batch
    tagged: int
    """Events tagged while decoding (overlong, invalid UTF-8, corrupt stream)."""


def decode_chunk(chunk: Chunk) -> Decoded:
    """Every record of the chunk as an event, in order."""
    events: Batch = []
    tagged = 0
    for batch in decode_batches(chunk, MAX_BATCH):
        events += batch.events
        tagged += batch.tagged
    return Decoded(events, tagged)


MAX_BATCH: Final = 1 << 30


def decode_batches(chunk: Chunk, size: int) -> Iterator[Decoded]:
    """The chunk's events, at most ``size`` at a time, in order. Each batch's events are
    made just before they are used, so a chunk of a MiB never has all its thousands of
    events alive at once: they stay in the CPU cache and out of the collector's way."""
    framing, node = chunk.framing, chunk.node
    records_of = RECORD_DECODERS[framing.kind]
    make = _map_events if framing.makes_maps else _text_events
    position = chunk.first_position
    prefix = f"{chunk.chunk_id}-"
    for piece in chunk.pieces:
        payloads, tags = records_of(framing, piece)
        for start in range(0, len(payloads), size):
            part = payloads[start : start + size] if len(payloads) > size else payloads
            made = make(part, prefix, position, piece.received_from, chunk.source_module)
            position += len(made)
            tagged = {index - start for index, _ in tags if start <= index < start + size}
            for index, reason in tags:
                if start <= index < start + size:
                    add_error(made[index - start], node, reason)
            if piece.note:
                for event in made:
                    add_error(event, node, f"{framing.what} {piece.note}")
            if piece.meta:
                for event in made:
                    event[META].update(piece.meta)
            yield Decoded(made, len(made) if piece.note else len(tagged))


def record_count(framing: Framing, piece: Piece) -> int:
    """How many records (events) a piece holds, without building them."""
    return len(RECORD_DECODERS[framing.kind](framing, piece)[0])


def _text_events(
    payloads: list[Any], prefix: str, start: int, received_from: str, source: str
) -> Batch:
    if start + len(payloads) <= len(_HEX):
        return [
            {
                DATA: text,
                META: {
                    EVENT_ID: prefix + number,
                    EVENT_TYPE: UNKNOWN_TYPE,
                    RECEIVED_FROM: received_from,
                    SOURCE_MODULE: source,
                },
            }
            for number, text in zip(_HEX[start:], payloads)  # noqa: B905 - _HEX is longer
        ]
    return [
        {
            DATA: text,
            META: {
                EVENT_ID: f"{prefix}{number:x}",
                EVENT_TYPE: UNKNOWN_TYPE,
                RECEIVED_FROM: received_from,
                SOURCE_MODULE: source,
            },
        }
        for number, text in enumerate(payloads, start)
    ]


def _map_events(
    payloads: list[Any], prefix: str, start: int, received_from: str, source: str
) -> Batch:
    return [
        _event_from_map(payload, f"{prefix}{number:x}", received_from, source)
        for number, payload in enumerate(payloads, start)
    ]


def _event_from_map(payload: Any, event_id: str, received_from: str, source: str) -> Event:
    """A decoded map: its fields at the top level, its metadata merged into the event's."""
    meta = {
        EVENT_ID: event_id,
        EVENT_TYPE: UNKNOWN_TYPE,
        RECEIVED_FROM: received_from,
        SOURCE_MODULE: source,
    }
    if not isinstance(payload, dict):
        return {DATA: payload, META: meta}
    event: Event = {DATA: ""}
    event.update(payload)
    theirs = event.get(META)
    if isinstance(theirs, dict):
        meta.update({key: value for key, value in theirs.items() if key != EVENT_ID})
    event[META] = meta
    return event


# -- line framing ------------------------------------------------------------------------------


def _only_newline_breaks(text: str) -> bool:
    """True if str.splitlines() would cut ``text`` only after '\\n' ('\\r\\n' counts as one)."""
    breaks = _OTHER_BREAKS if text.isascii() else _OTHER_BREAKS_NON_ASCII
    if any(other in text for other in breaks):
        return False
    return "\r" not in text or text.count("\r") == text.count("\r\n")


def _line_records(framing: Framing, piece: Piece) -> Records:
    if piece.overlong:
        return _overlong_line(framing, piece)
    if framing.regex is not None:
        return _regex_lines(framing, piece.data)
    data, sep = piece.data, framing.separator
    try:
        text = data.decode(framing.encoding)
    except UnicodeDecodeError:
        return _slow_lines(framing, data)
    complete = text.endswith(sep)
    limit = framing.max_record_bytes
    if framing.keep_separator:
        if sep == "\n" and _only_newline_breaks(text):
            lines = text.splitlines(keepends=True)  # one allocation per line, not two
        else:
            lines = [line + sep for line in text.split(sep)]
            lines[-1] = lines[-1][: -len(sep)]
            if complete:
                lines.pop()
        limit += len(sep)
    else:
        lines = text.split(sep)
        if complete:
            lines.pop()
    if len(data) > limit:
        longest = max(map(len, lines), default=0)
        if longest > limit or (not text.isascii() and longest * 4 > limit):
            return _slow_lines(framing, data)
    if framing.strip:
        lines = [stripped for line in lines if (stripped := line.strip(ASCII_WHITESPACE))]
    return lines, []


def _overlong_line(framing: Framing, piece: Piece) -> Records:
    head_length = piece.sizes[0]
    ending = piece.data[head_length:] if framing.keep_separator else b""
    return _finish_records(
        framing, [_decoded(framing, piece.data[:head_length], piece.overlong, ending)]
    )


def _decoded(framing: Framing, raw: bytes, size: int, ending: bytes) -> tuple[str, list[str]]:
    return decode_record(
        raw,
        size,
        framing.max_record_bytes,
        ending,
        what=framing.what,
        option=framing.option,
        encoding=framing.encoding,
    )


def _finish_records(
    framing: Framing, decoded: list[tuple[str, list[str]]], drop_empty: bool = True
) -> Records:
    """Strip (dropping lines that end up empty and untagged) and collect the tags."""
    texts: list[Any] = []
    tags: Tags = []
    drop_empty = drop_empty and framing.strip
    for raw_text, reasons in decoded:
        text = raw_text.strip(ASCII_WHITESPACE) if framing.strip else raw_text
        if drop_empty and not text and not reasons:
            continue
        tags += [(len(texts), reason) for reason in reasons]
        texts.append(text)
    return texts, tags


def _slow_lines(framing: Framing, data: bytes) -> Records:
    """Line by line: for pieces with invalid UTF-8 or a line that may be overlong."""
    sep = framing.separator.encode(framing.encoding)
    ending = sep if framing.keep_separator else b""
    parts = data.split(sep)
    last = parts.pop()  # b'' after a final separator, else a partial line
    decoded = [_decoded(framing, raw, len(raw), ending) for raw in parts]
    if last:
        decoded.append(_decoded(framing, last, len(last), b""))
    return _finish_records(framing, decoded)


def _regex_lines(framing: Framing, data: bytes) -> Records:
    regex = framing.compiled_regex
    assert regex is not None
    decoded, pos = [], 0
    for match in regex.finditer(data):
        raw = data[pos : match.start()]
        ending = match.group() if framing.keep_separator else b""
        decoded.append(_decoded(framing, raw, len(raw), ending))
        pos = match.end()
    if pos < len(data):
        raw = data[pos:]
        decoded.append(_decoded(framing, raw, len(raw), b""))
    return _finish_records(framing, decoded)


# -- the other framings ------------------------------------------------------------------------


def _sized(piece: Piece) -> list[bytes]:
    data, start, records = piece.data, 0, []
    for size in piece.sizes:
        records.append(data[start : start + size])
        start += size
    return records


def _block_records(framing: Framing, piece: Piece) -> Records:
    size = piece.overlong or len(piece.data)
    return _finish_records(framing, [_decoded(framing, piece.data, size, b"")])


def _read_records(framing: Framing, piece: Piece) -> Records:
    """Stream mode: bytes kept as they are (``surrogateescape`` gives them back)."""
    return [raw.decode("utf-8", "surrogateescape") for raw in _sized(piece)], []


def _datagram_records(framing: Framing, piece: Piece) -> Records:
    """Every datagram is an event, even one that strips to nothing (as in GambolPutty)."""
    decoded = [_decoded(framing, raw, len(raw), b"") for raw in _sized(piece)]
    return _finish_records(framing, decoded, drop_empty=False)


def _msgpack_records(framing: Framing, piece: Piece) -> Records:
    """Whole objects: decoded (``decoding: msgpack``), or kept as bytes for a MsgPackParser
    (``surrogateescape`` text)."""
    if not framing.decode_objects:
        return _read_records(framing, piece)
    payloads: list[Any] = []
    tags: Tags = []
    for raw in _sized(piece):
        try:
            payloads.append(msgpack.unpackb(raw, raw=False))
        except (ValueError, msgpack.UnpackException) as error:  # e.g. a map with int keys
            tags.append((len(payloads), f"msgpack object not decoded: {error}"))
            payloads.append(raw.decode("utf-8", "surrogateescape"))
    return payloads, tags


def _syslog_records(framing: Framing, piece: Piece) -> Records:
    """RFC 6587 frames, without their length or newline; an overlong one is its head."""
    if piece.overlong:
        raw = piece.data[: piece.sizes[0]]
        return _finish_records(framing, [_decoded(framing, raw, piece.overlong, b"")])
    return _finish_records(
        framing, [_decoded(framing, raw, len(raw), b"") for raw in _sized(piece)]
    )


def _event_records(framing: Framing, piece: Piece) -> Records:
    """Generated events (Spam): every record is one msgpack-packed event map or text."""
    payloads: list[Any] = []
    tags: Tags = []
    for raw in _sized(piece):
        try:
            payloads.append(unpack(raw))
        except (ValueError, msgpack.UnpackException) as error:
            tags.append((len(payloads), f"undecodable generated event: {error}"))
            payloads.append(raw.decode("utf-8", "replace"))
    return payloads, tags


RECORD_DECODERS: Final[dict[str, Callable[[Framing, Piece], Records]]] = {
    "line": _line_records,
    "multiline": _block_records,
    "stream": _read_records,
    "msgpack": _msgpack_records,
    "datagram": _datagram_records,
    "events": _event_records,
    "syslog": _syslog_records,
}
