"""Listener side: syslog over TCP (RFC 6587), octet-counted or newline-ended frame by frame.

RFC 6587 describes two framings a sender may use: octet counting (``MSG-LEN SP SYSLOG-MSG``,
section 3.4.1, e.g. ``logger -T --octet-count``, rsyslog's default) and non-transparent
framing (the message ends at a newline, section 3.4.2, e.g. ``logger -T``). A receiver
cannot know which one a sender uses, so, as the RFC suggests and rsyslog does, each frame
decides: a frame that starts with a digit is octet-counted, anything else ends at the next
newline. A syslog message itself always starts with '<', so no message is mistaken for a
length. Whitespace between frames (a newline after a counted frame) is skipped.

Memory stays bounded by ``max_record_bytes`` (max_line_bytes): a frame whose MSG-LEN is
larger keeps its first ``max_record_bytes`` bytes and the rest is skipped by count as it
arrives (the record is tagged with its full size, as an overlong line is); a newline-ended
frame longer than that is cut the same way. A frame that starts with a digit but has no
valid MSG-LEN (not 1 to 9 digits without a leading zero, then a space) cannot be
resynchronised by count: it is read as a newline-ended frame instead and its event is
tagged with the reason, so the stream carries on at the next newline and nothing is lost.
"""

from __future__ import annotations

import re
from typing import Final

from gp_celery.framing.spec import Framing, Piece

MAX_LENGTH_DIGITS: Final = 9
"""A MSG-LEN of more digits (a GiB and more) is not a length any sender means."""
_DIGITS: Final = frozenset(b"0123456789")
_BETWEEN_FRAMES: Final = re.compile(rb"[ \t\r\n]*")
BAD_LENGTH: Final = (
    "starts with a digit but has no valid octet count ('MSG-LEN SP', RFC 6587); "
    "read up to the next newline instead"
)


class SyslogCutter:
    """Cuts one TCP stream into syslog frames; see the module's description."""

    def __init__(self, framing: Framing, received_from: str) -> None:
        self._from = received_from
        self._max = framing.max_record_bytes
        self._buf = bytearray()
        self._skip = 0
        """Bytes of an overlong counted frame still to be discarded."""
        self._skip_line = False
        """Discarding the rest of an overlong newline-ended frame."""
        self._head = b""
        self._size = 0
        """Full size of the overlong frame whose head is ``_head``."""
        self._note = ""
        self._searched = 0
        """Bytes of the unfinished newline-ended frame (at the buffer's start) already
        searched for its newline: each byte is searched once, however small the reads."""

    @property
    def buffered_bytes(self) -> int:
        """What the cutter holds right now (for tests and stats)."""
        return len(self._buf) + len(self._head)

    def feed(self, data: bytes) -> list[Piece]:
        if not data:
            return []
        self._buf += data
        return self._cut(final=False)

    def close(self) -> list[Piece]:
        return self._cut(final=True)

    def _cut(self, final: bool) -> list[Piece]:
        out = _Pieces(self._from)
        buf = self._buf
        pos, complete = 0, True
        while complete and pos < len(buf):
            if self._skip or self._skip_line:
                pos = self._skip_overlong(out, pos)
                continue
            gap = _BETWEEN_FRAMES.match(buf, pos)
            pos = gap.end() if gap else pos
            if pos < len(buf):
                pos, complete = self._frame(out, pos)
        if final and pos < len(buf):
            self._finish(out, pos)
            pos = len(buf)
        del buf[:pos]
        if final and self._head:
            self._end_overlong(out, cut_short=bool(self._skip))
        return out.done()

    def _frame(self, out: _Pieces, pos: int) -> tuple[int, bool]:
        """Cut the frame starting at ``pos``: where the next one starts, or (``pos``,
        False) if this one is not complete yet."""
        buf = self._buf
        if buf[pos] in _DIGITS:
            length, start = self._length(pos)
            if length > 0:
                return self._counted(out, pos, start, length)
            if length == 0:
                return pos, False  # the length itself is still arriving
            self._note = BAD_LENGTH
        return self._line(out, pos)

    def _length(self, pos: int) -> tuple[int, int]:
        """MSG-LEN at ``pos`` and where its frame starts; (0, 0) if it may still be
        arriving, (-1, 0) if there is none."""
        buf = self._buf
        space = buf.find(b" ", pos, pos + MAX_LENGTH_DIGITS + 1)
        digits = bytes(buf[pos : space if space >= 0 else pos + MAX_LENGTH_DIGITS + 1])
        if not digits.isdigit() or digits.startswith(b"0"):
            return -1, 0
        if space < 0:
            return (
                (0, 0)
                if len(digits) <= MAX_LENGTH_DIGITS and pos + len(digits) == len(buf)
                else (-1, 0)
            )
        return int(digits), space + 1

    def _counted(self, out: _Pieces, pos: int, start: int, length: int) -> tuple[int, bool]:
        buf = self._buf
        if len(buf) - start < min(length, self._max):
            return pos, False
        if length <= self._max:
            out.record(bytes(buf[start : start + length]))
            return start + length, True
        self._head = bytes(buf[start : start + self._max])
        self._size = length
        self._skip = length - self._max
        return start + self._max, True

    def _line(self, out: _Pieces, pos: int) -> tuple[int, bool]:
        buf = self._buf
        searched = self._searched if pos == 0 else 0
        end = buf.find(b"\n", pos + searched, pos + self._max + 1)
        if end >= 0:
            out.record(bytes(buf[pos:end]), self._note)
            self._note, self._searched = "", 0
            return end + 1, True
        if len(buf) - pos <= self._max:
            self._searched = len(buf) - pos
            return pos, False
        self._searched = 0
        self._head = bytes(buf[pos : pos + self._max])
        self._size = self._max
        self._skip_line = True
        return pos + self._max, True

    def _skip_overlong(self, out: _Pieces, pos: int) -> int:
        """Discard what belongs to an overlong frame from ``pos``; where the rest starts."""
        buf = self._buf
        if self._skip:
            taken = min(self._skip, len(buf) - pos)
            self._skip -= taken
            pos += taken
            if not self._skip:
                self._end_overlong(out)
            return pos
        end = buf.find(b"\n", pos)
        self._size += (end if end >= 0 else len(buf)) - pos
        if end < 0:
            return len(buf)
        self._end_overlong(out)
        return end + 1

    def _end_overlong(self, out: _Pieces, cut_short: bool = False) -> None:
        note = self._note
        if cut_short:
            note = f"ended {self._skip} bytes before its octet count of {self._size}"
        out.overlong(self._head, self._size, note)
        self._head, self._size, self._skip, self._skip_line, self._note = b"", 0, 0, False, ""

    def _finish(self, out: _Pieces, pos: int) -> None:
        """End of stream inside a frame: what arrived is a record, tagged if it was cut."""
        length, start = self._length(pos) if self._buf[pos] in _DIGITS else (-1, 0)
        if length > 0:
            body = bytes(self._buf[start:])
            missing = length - len(body)
            out.record(body, f"ended {missing} bytes before its octet count of {length}")
        else:
            out.record(bytes(self._buf[pos:]), self._note or (BAD_LENGTH if length == 0 else ""))
        self._note, self._searched = "", 0


class _Pieces:
    """Records in order: plain ones share a piece; a tagged or overlong one gets its own."""

    def __init__(self, received_from: str) -> None:
        self._from = received_from
        self.pieces: list[Piece] = []
        self._data = bytearray()
        self._sizes: list[int] = []

    def record(self, data: bytes, note: str = "") -> None:
        if note:
            self._flush()
            self.pieces.append(Piece(self._from, data, (len(data),), 0, note))
            return
        self._data += data
        self._sizes.append(len(data))

    def overlong(self, head: bytes, size: int, note: str) -> None:
        self._flush()
        self.pieces.append(Piece(self._from, head, (len(head),), size, note))

    def done(self) -> list[Piece]:
        self._flush()
        return self.pieces

    def _flush(self) -> None:
        if self._sizes:
            self.pieces.append(Piece(self._from, bytes(self._data), tuple(self._sizes)))
            self._data, self._sizes = bytearray(), []
