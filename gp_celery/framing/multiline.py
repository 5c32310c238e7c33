"""Listener side: lines joined into one record by regexes (python-beaver's multiline, which
LumberMill's File input declared as ``multiline_regex_before`` / ``multiline_regex_after``).

- ``join_before``: a line that matches belongs to the record before it (e.g. ``^\\s`` joins
  the indented lines of a stack trace to the line that opened it).
- ``join_after``: the line after one that matches belongs to the same record (e.g. ``\\\\$``
  joins a line ending in a backslash to the next).

Both match at the start of the line's raw bytes, without its separator (``re.match``, as
beaver did on the decoded line). A record is complete only when a line arrives that starts
the next one, so a follower of a growing file would hold the last record for ever:
``release()`` hands it out (File calls it when the file has been quiet for a while), and
``close()`` does at the end of the stream. The record's lines keep their separators between
them; the last separator is kept only with ``keep_separator``. A record is bounded by
``max_record_bytes``: lines that no longer fit are counted and dropped (the record is cut at
a line boundary) and the record is marked overlong with its full size.
"""

from __future__ import annotations

from typing import Protocol

from gp_celery.framing.spec import Framing, Piece, compile_join


class LineSource(Protocol):
    """The line cutter underneath (``cut.LineCutter``)."""

    @property
    def held_bytes(self) -> int: ...

    def feed(self, data: bytes) -> list[Piece]: ...

    def close(self) -> list[Piece]: ...


def lines_of(piece: Piece, sep: bytes) -> list[tuple[bytes, int]]:
    """(line bytes with separator, the line's real size in the stream) for every line of a
    line piece; an overlong line's piece is its head plus separator."""
    if piece.overlong:
        return [(piece.data, piece.overlong + len(piece.data) - piece.sizes[0])]
    data = piece.data
    lines = [part + sep for part in data.split(sep)]
    lines[-1] = lines[-1][: -len(sep)]
    if not lines[-1]:
        lines.pop()
    return [(line, len(line)) for line in lines]


class JoinedLinesCutter:
    """Records of one or more lines, joined by ``join_before`` / ``join_after``."""

    def __init__(self, framing: Framing, lines: LineSource, received_from: str) -> None:
        self._lines = lines
        self._from = received_from
        self._max = framing.max_record_bytes
        self._sep = framing.separator.encode(framing.encoding)
        self._keep_sep = framing.keep_separator
        self._before = compile_join(framing.join_before) if framing.join_before else None
        self._after = compile_join(framing.join_after) if framing.join_after else None
        self._record = bytearray()
        self._size = 0
        """Stream bytes of the record being collected (dropped lines included)."""
        self._overflow = False
        self._joins_next = False
        """The record's last line matched ``join_after``."""

    @property
    def held_bytes(self) -> int:
        """Stream bytes fed but in no piece yet: the unfinished line and record."""
        return self._lines.held_bytes + self._size

    def feed(self, data: bytes) -> list[Piece]:
        return self._collect(self._lines.feed(data))

    def close(self) -> list[Piece]:
        return self._collect(self._lines.close()) + self.release()

    def release(self) -> list[Piece]:
        """The record being collected, as it is (the stream went quiet)."""
        if not self._size:
            return []
        record = bytes(self._record)
        if not self._keep_sep and record.endswith(self._sep):
            record = record[: -len(self._sep)]
        overlong = self._size if self._overflow else 0
        self._record, self._size, self._overflow = bytearray(), 0, False
        self._joins_next = False
        return [Piece(self._from, record, (len(record),), overlong)]

    def _collect(self, line_pieces: list[Piece]) -> list[Piece]:
        records: list[Piece] = []
        for piece in line_pieces:
            for line, size in lines_of(piece, self._sep):
                if self._size and not self._continues(line):
                    records += self.release()
                self._add(line, size)
        return records

    def _continues(self, line: bytes) -> bool:
        """Does ``line`` belong to the record being collected?"""
        if self._joins_next:
            return True
        body = line[: -len(self._sep)] if line.endswith(self._sep) else line
        return self._before is not None and self._before.match(body) is not None

    def _add(self, line: bytes, size: int) -> None:
        self._size += size
        if self._overflow or len(self._record) + len(line) > self._max:
            self._overflow = True
        else:
            self._record += line
        if self._after is not None:
            body = line[: -len(self._sep)] if line.endswith(self._sep) else line
            self._joins_next = self._after.match(body) is not None
