"""What a framing is (how a byte stream is cut into records) and what a cut piece carries.

A ``Framing`` travels with every chunk, so a worker decodes a chunk exactly as the listener
that cut it meant, without reading the input's options (they may hold host settings, such
as a port from an environment variable, that workers do not have).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from functools import cache
from typing import Any, Final, Literal, NamedTuple

from gp_celery.framing.text import DEFAULT_MAX_LINE_BYTES

FramingKind = Literal["line", "multiline", "stream", "msgpack", "datagram", "events", "syslog"]
"""line: records end at a separator (or regex). multiline: blocks of lines ended by a signal
line (or the end of the stream). stream: every read is a record. msgpack: every complete
msgpack object is a record. datagram: every datagram is a record. events: every record is
an msgpack-packed event (generated input). syslog: RFC 6587, each frame octet-counted
(``MSG-LEN SP MSG``) or ended by a newline (see ``syslog.py``)."""

REGEX_WINDOW: Final = 1024
"""Bytes of what is already buffered that are searched again for a regex separator that
spans two reads."""


@dataclass(frozen=True, slots=True)
class Framing:
    """How an input's bytes become records, and records events; built once from options."""

    kind: FramingKind = "line"
    separator: str = "\n"
    regex: str | None = None
    """A regex separator (matched on the raw bytes); wins over ``separator``."""
    strip: bool = False
    """Strip ASCII whitespace around each record; drop records that end up empty."""
    keep_separator: bool = False
    """Keep the separator at the end of ``data`` (StdIn, like GambolPutty's readline())."""
    max_record_bytes: int = DEFAULT_MAX_LINE_BYTES
    end_signal: str | None = None
    """multiline: the line that ends a block (compared without its line ending)."""
    option: str = "max_line_bytes"
    """The option name an overlong record's tag quotes."""
    encoding: str = "utf-8"
    """Character encoding of line, block and datagram records."""
    decode_objects: bool = False
    """msgpack: decode each object into the event (a map's keys become fields); otherwise
    the object's bytes are the event's data, for a MsgPackParser."""

    def __post_init__(self) -> None:
        if not self.separator:
            raise ValueError("the line separator must not be empty")
        if self.max_record_bytes < 1:
            raise ValueError("the record size limit must be at least 1")
        if self.regex is not None:
            compile_separator(self.regex)

    @property
    def what(self) -> str:
        """How an overlong record's tag names it."""
        return {
            "multiline": "block",
            "datagram": "datagram",
            "msgpack": "object",
            "syslog": "syslog frame",
        }.get(self.kind, "line")

    @property
    def makes_maps(self) -> bool:
        """Records decode to maps (generated events, decoded msgpack), not text."""
        return self.kind == "events" or (self.kind == "msgpack" and self.decode_objects)

    @property
    def compiled_regex(self) -> re.Pattern[bytes] | None:
        return None if self.regex is None else compile_separator(self.regex)

    def to_wire(self) -> dict[str, Any]:
        """Only the fields that differ from the defaults: a chunk carries a few bytes."""
        default = _DEFAULT
        return {
            item.name: getattr(self, item.name)
            for item in fields(self)
            if getattr(self, item.name) != getattr(default, item.name)
        }

    @staticmethod
    def from_wire(wire: dict[str, Any]) -> Framing:
        return _from_wire(tuple(sorted(wire.items())))


_DEFAULT: Final = Framing()


@cache
def _from_wire(items: tuple[tuple[str, Any], ...]) -> Framing:
    return Framing(**dict(items))


@cache
def compile_separator(pattern: str) -> re.Pattern[bytes]:
    """A regex separator as a bytes pattern, keeping the re.error detail for the user."""
    try:
        compiled = re.compile(pattern.encode())
    except re.error as error:
        where = f" at position {error.pos}" if error.pos is not None else ""
        raise ValueError(f"bad regular expression: {error.msg}{where}") from None
    if compiled.fullmatch(b"") is not None:
        raise ValueError("the separator must not match the empty string")
    return compiled


class Piece(NamedTuple):
    """Complete records from one source (a TCP client, stdin, a sender of datagrams).

    ``sizes`` gives the record lengths where the framing has no separator to find them
    again (stream reads, datagrams, msgpack objects, events). ``overlong`` > 0 marks a piece
    that is one line whose head alone was kept: the line had ``overlong`` bytes and
    ``sizes[0]`` is the head's length (the separator follows it). ``note`` tags every record
    of the piece (e.g. a corrupt msgpack stream). ``meta`` is metadata every record's event
    carries besides ``received_from`` (e.g. a TLS client certificate's name).
    """

    received_from: str
    data: bytes
    sizes: tuple[int, ...] = ()
    overlong: int = 0
    note: str = ""
    meta: tuple[tuple[str, str], ...] = ()

    def to_wire(self) -> list[Any]:
        wire = [self.received_from, self.data, list(self.sizes), self.overlong, self.note]
        if self.meta:  # pieces without it keep the shorter form
            wire.append([list(item) for item in self.meta])
        return wire

    @staticmethod
    def from_wire(wire: list[Any]) -> Piece:
        received_from, data, sizes, overlong, note, *meta = wire
        items = tuple((key, value) for key, value in meta[0]) if meta else ()
        return Piece(received_from, data, tuple(sizes), overlong, note, items)


def framing_fields() -> dict[str, Any]:
    """Field -> default, for documentation and tests."""
    return asdict(_DEFAULT)
