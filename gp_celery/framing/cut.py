"""Listener side: cut one byte stream at its last complete record boundary.

A cutter per stream (one per TCP client, one for stdin) keeps the unfinished tail and hands
out pieces that hold only whole records, so a chunk can be decoded anywhere, by any worker.
It never decodes text and never builds events: that is the worker's job (``decode.py``),
the same code in embedded mode. Memory stays bounded: a line that grows past the framing's
``max_record_bytes`` without a separator keeps only its head; the rest is counted and
skipped until the line ends.
"""

from __future__ import annotations

from typing import Final, Protocol

import msgpack

from gp_celery.framing.chunk import Chunk
from gp_celery.framing.multiline import JoinedLinesCutter, lines_of
from gp_celery.framing.spec import REGEX_WINDOW, Framing, Piece
from gp_celery.framing.syslog import SyslogCutter

MSGPACK_ERRORS: Final = {
    msgpack.StackError: "nested too deeply",
    msgpack.FormatError: "invalid format byte",
    msgpack.BufferFull: "an object larger than the record size limit",
}


class Cutter(Protocol):
    def feed(self, data: bytes) -> list[Piece]:
        """Take more bytes; return the pieces of records completed by them."""
        ...

    def close(self) -> list[Piece]:
        """End of stream: whatever is left becomes a record too."""
        ...


def cutter(framing: Framing, received_from: str) -> Cutter:
    """The cutter for one stream of an input with this framing."""
    if framing.kind == "line":
        return LineCutter(framing, received_from)
    if framing.kind == "multiline" and (framing.join_before or framing.join_after):
        return JoinedLinesCutter(framing, LineCutter(framing, received_from), received_from)
    if framing.kind == "multiline":
        return MultilineCutter(framing, received_from)
    if framing.kind == "msgpack":
        return MsgpackCutter(framing, received_from)
    if framing.kind == "stream":
        return ReadCutter(received_from)
    if framing.kind == "syslog":
        return SyslogCutter(framing, received_from)
    raise ValueError(f"framing {framing.kind!r} has no stream cutter")


class ReadCutter:
    """Stream mode: every read is one record, bytes untouched."""

    def __init__(self, received_from: str) -> None:
        self._from = received_from

    def feed(self, data: bytes) -> list[Piece]:
        return [Piece(self._from, data, (len(data),))] if data else []

    def close(self) -> list[Piece]:
        return []


class LineCutter:
    """Records end at a separator (or at a regex match, which wins)."""

    def __init__(self, framing: Framing, received_from: str) -> None:
        self._from = received_from
        self._sep = framing.separator.encode(framing.encoding)
        self._regex = framing.compiled_regex
        self._lookback = REGEX_WINDOW if self._regex is not None else len(self._sep) - 1
        self._max = framing.max_record_bytes
        self._buf = bytearray()
        """The current, unfinished line: never a whole separator, at most ~max + one read."""
        self._head: bytes | None = None
        """First bytes of an overlong line whose rest is being skipped."""
        self._skipped = 0

    @property
    def buffered_bytes(self) -> int:
        """What the cutter holds right now (for tests and stats)."""
        return len(self._buf) + len(self._head or b"")

    @property
    def held_bytes(self) -> int:
        """Stream bytes fed but in no piece yet (the unfinished line, an overlong line's
        head and what of it was skipped): the stream's position minus this is where the
        records handed out so far end, which File saves as its offset."""
        if self._head is None:
            return len(self._buf)
        return len(self._buf) + self._max + self._skipped

    def feed(self, data: bytes) -> list[Piece]:
        return self._cut(data, final=False) if data else []

    def close(self) -> list[Piece]:
        return self._cut(b"", final=True)

    def _cut(self, data: bytes, final: bool) -> list[Piece]:
        pieces: list[Piece] = []
        buf = self._buf
        scan_from = max(0, len(buf) - self._lookback)
        buf += data
        if self._head is not None:
            if not self._skip_overlong(pieces, final):
                return pieces
            scan_from = 0
        end = self._last_boundary(scan_from)
        if end > 0:
            pieces.append(Piece(self._from, bytes(buf[:end])))
            del buf[:end]
        if final:
            if buf:
                pieces.append(Piece(self._from, bytes(buf)))
            buf.clear()
        elif len(buf) > self._max:
            self._start_skipping()
        return pieces

    def _last_boundary(self, scan_from: int) -> int:
        """The end of the last separator at or after ``scan_from``; 0 if there is none."""
        if self._regex is None:
            found = self._buf.rfind(self._sep, scan_from)
            return found + len(self._sep) if found >= 0 else 0
        end = 0
        for match in self._regex.finditer(self._buf, scan_from):
            end = match.end()
        return end

    def _first_separator(self) -> tuple[int, int]:
        """Start and end of the first separator in the buffer; (-1, -1) if none."""
        if self._regex is not None:
            match = self._regex.search(self._buf)
            return (match.start(), match.end()) if match else (-1, -1)
        found = self._buf.find(self._sep)
        return found, found + len(self._sep) if found >= 0 else -1

    def _start_skipping(self) -> None:
        buf = self._buf
        self._head = bytes(buf[: self._max])
        keep = max(self._max, len(buf) - self._lookback)
        self._skipped = keep - self._max
        del buf[:keep]

    def _skip_overlong(self, pieces: list[Piece], final: bool) -> bool:
        """Discard the rest of an overlong line; True once it ended (its piece is made)."""
        buf = self._buf
        start, end = self._first_separator()
        if start < 0 and not final:
            keep = max(0, len(buf) - self._lookback)
            self._skipped += keep
            del buf[:keep]
            return False
        if start < 0:
            start = end = len(buf)
        head, self._head = self._head or b"", None
        size = self._max + self._skipped + start
        pieces.append(Piece(self._from, head + bytes(buf[start:end]), (len(head),), size))
        del buf[:end]
        return True


class MultilineCutter:
    """Blocks of lines, each ended by a line equal to ``end_signal`` (compared without its
    line ending) or by the end of the stream.

    A block is bounded by ``max_record_bytes``: lines that no longer fit are counted and
    dropped (the block is cut at a line boundary), and the block is marked overlong with its
    full size. A signal written in YAML without the trailing newline works too (GambolPutty
    compared the readline() result, newline included, and never matched such a signal).
    """

    def __init__(self, framing: Framing, received_from: str) -> None:
        self._lines = LineCutter(framing, received_from)
        self._from = received_from
        self._max = framing.max_record_bytes
        signal = framing.end_signal.rstrip("\r\n") if framing.end_signal else None
        self._signal = signal.encode() if signal is not None else None
        self._sep = framing.separator.encode(framing.encoding)
        self._block = bytearray()
        self._size = 0
        self._overflow = False

    @property
    def held_bytes(self) -> int:
        """Stream bytes fed but in no piece yet: the unfinished line and block."""
        return self._lines.held_bytes + self._size

    def feed(self, data: bytes) -> list[Piece]:
        return self._collect(self._lines.feed(data))

    def close(self) -> list[Piece]:
        pieces = self._collect(self._lines.close())
        if self._size:
            pieces.append(self._end_block())
        return pieces

    def _collect(self, line_pieces: list[Piece]) -> list[Piece]:
        blocks = []
        for piece in line_pieces:
            for line, size in lines_of(piece, self._sep):
                if self._signal is not None and line.rstrip(b"\r\n") == self._signal:
                    blocks.append(self._end_block())
                    continue
                self._size += size
                if self._overflow or len(self._block) + len(line) > self._max:
                    self._overflow = True
                else:
                    self._block += line
        return blocks

    def _end_block(self) -> Piece:
        block, size = bytes(self._block), self._size
        overlong = size if self._overflow else 0
        self._block, self._size, self._overflow = bytearray(), 0, False
        return Piece(self._from, block, (len(block),), overlong)


class MsgpackCutter:
    """Every complete msgpack object is a record; the objects are skipped, not built.

    Bad data, or an object larger than ``max_record_bytes``, ends the stream's current
    state: what is buffered goes out as one record marked with the reason, and the stream
    starts afresh with the next read (as GambolPutty's MsgPackParser restarted it).
    """

    def __init__(self, framing: Framing, received_from: str) -> None:
        self._from = received_from
        self._max = framing.max_record_bytes
        self._new_unpacker()

    def _new_unpacker(self) -> None:
        self._unpacker = msgpack.Unpacker(max_buffer_size=max(self._max, 1024))
        self._buf = bytearray()
        self._base = 0
        """Stream offset of ``_buf[0]``."""

    def feed(self, data: bytes) -> list[Piece]:
        if not data:
            return []
        pieces: list[Piece] = []
        for start in range(0, len(data), self._max):  # the unpacker takes at most _max at once
            pieces += self._feed(data[start : start + self._max])
        return pieces

    def _feed(self, data: bytes) -> list[Piece]:
        self._buf += data
        ends: list[int] = []
        try:
            self._unpacker.feed(data)
            while True:
                self._unpacker.skip()
                ends.append(self._unpacker.tell() - self._base)
        except msgpack.OutOfData:
            return self._complete(ends)
        except (ValueError, msgpack.UnpackException) as error:
            pieces = self._complete(ends)
            reason = MSGPACK_ERRORS.get(type(error)) or str(error) or type(error).__name__
            rest = bytes(self._buf)
            self._new_unpacker()
            note = f"is not a valid msgpack stream ({reason}); the stream restarts"
            return [*pieces, Piece(self._from, rest, (len(rest),), 0, note)]

    def _complete(self, ends: list[int]) -> list[Piece]:
        if not ends:
            return []
        end = ends[-1]
        sizes = tuple(b - a for a, b in zip([0, *ends[:-1]], ends, strict=True))
        piece = Piece(self._from, bytes(self._buf[:end]), sizes)
        del self._buf[:end]
        self._base += end
        return [piece]

    def close(self) -> list[Piece]:
        if not self._buf:
            return []
        rest = bytes(self._buf)
        self._new_unpacker()
        note = "ends with an incomplete msgpack object"
        return [Piece(self._from, rest, (len(rest),), 0, note)]


def count_records(framing: Framing, piece: Piece) -> int:
    """How many records a piece holds, cheaply (a byte count, no decoding): for the
    listener's statistics and for honest counts of what a forced exit abandons. Lines that
    strip to nothing are counted here although they make no event."""
    if piece.sizes and (piece.overlong or framing.kind != "line"):
        return 1 if piece.overlong else len(piece.sizes)
    if framing.kind != "line":
        return 1 if piece.data else 0
    data = piece.data
    regex = framing.compiled_regex
    if regex is not None:
        ends = [match.end() for match in regex.finditer(data)]
        return len(ends) + (1 if data and (not ends or ends[-1] < len(data)) else 0)
    sep = framing.separator.encode(framing.encoding)
    return data.count(sep) + (0 if data.endswith(sep) or not data else 1)


def records_in(chunk: Chunk) -> int:
    """``count_records`` over a whole chunk."""
    return sum(count_records(chunk.framing, piece) for piece in chunk.pieces)
