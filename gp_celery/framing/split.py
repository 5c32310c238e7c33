"""Splitting a chunk in two halves of whole records, keeping every event's id.

Used to isolate a record that kills its worker process: a chunk delivered too often without
finishing is split, and the halves are tried apart, until the one bad record is alone. Each
part keeps the chunk id and gets the position of its first event, so its events have
exactly the ids they would have had in the whole chunk.
"""

from __future__ import annotations

from gp_celery.framing.chunk import Chunk
from gp_celery.framing.decode import record_count
from gp_celery.framing.spec import Framing, Piece


def record_ends(framing: Framing, piece: Piece) -> list[int]:
    """The byte offset where each record of a piece ends."""
    data = piece.data
    if piece.overlong or framing.kind == "multiline":
        return [len(data)] if data else []
    if framing.kind != "line":
        ends, end = [], 0
        for size in piece.sizes:
            end += size
            ends.append(end)
        return ends
    regex = framing.compiled_regex
    if regex is not None:
        ends = [match.end() for match in regex.finditer(data)]
    else:
        sep = framing.separator.encode(framing.encoding)
        ends, start = [], 0
        while (found := data.find(sep, start)) >= 0:
            start = found + len(sep)
            ends.append(start)
    if data and (not ends or ends[-1] < len(data)):
        ends.append(len(data))
    return ends


def _cut_piece(framing: Framing, piece: Piece, ends: list[int], first: int, last: int) -> Piece:
    """Records ``first`` to ``last`` (exclusive) of a piece."""
    start = ends[first - 1] if first else 0
    stop = ends[last - 1]
    if framing.kind == "line" and not piece.overlong:
        return piece._replace(data=piece.data[start:stop], sizes=(), overlong=0)
    sizes = piece.sizes[first:last] if framing.kind != "multiline" else (stop - start,)
    return piece._replace(data=piece.data[start:stop], sizes=sizes)


def records_in_chunk(chunk: Chunk) -> int:
    return sum(len(record_ends(chunk.framing, piece)) for piece in chunk.pieces)


def split_chunk(chunk: Chunk) -> list[Chunk]:
    """Two chunks with the first and second half of the records (one chunk if it holds a
    single record)."""
    total = records_in_chunk(chunk)
    if total < 2:
        return [chunk]
    half = total // 2
    first_half: list[Piece] = []
    second_half: list[Piece] = []
    seen = 0
    for piece in chunk.pieces:
        ends = record_ends(chunk.framing, piece)
        count = len(ends)
        if seen + count <= half:
            first_half.append(piece)
        elif seen >= half:
            second_half.append(piece)
        else:
            cut = half - seen
            first_half.append(_cut_piece(chunk.framing, piece, ends, 0, cut))
            second_half.append(_cut_piece(chunk.framing, piece, ends, cut, count))
        seen += count
    head = chunk.with_pieces(first_half, chunk.first_position, chunk.part + "0")
    events_in_head = sum(record_count(chunk.framing, piece) for piece in first_half)
    tail = chunk.with_pieces(second_half, chunk.first_position + events_in_head, chunk.part + "1")
    return [head, tail]
