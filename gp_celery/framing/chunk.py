"""A chunk: whole records from one input, as the listener cut them, plus what belongs to all
of them (the input node, its framing, when they were received).

Chunks are what crosses the broker: a listener stores one (a few hundred KiB to a MiB) and
sends its key, so the fixed cost of a task is spread over thousands of events. Packing is
one msgpack call over a handful of byte strings: no per-event work in the listener. Event
ids derive from the chunk id and each record's position, so a chunk delivered twice (or
split after it kept killing its worker) yields the same ids again.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field, replace
from typing import Any, Final

from gp_celery.codec import pack, unpack
from gp_celery.framing.spec import Framing, Piece

WIRE_VERSION: Final = 1


def new_chunk_id() -> str:
    """80 random bits: ids stay unique across a fleet without any coordination."""
    return secrets.token_hex(10)


@dataclass
class Chunk:
    node: str
    """The input node whose records these are."""
    source_module: str
    """Its module name (``gambolputty.source_module`` of every event)."""
    framing: Framing
    pieces: list[Piece]
    chunk_id: str = field(default_factory=new_chunk_id)
    received_at: float = field(default_factory=time.time)
    first_position: int = 0
    """Position of the first record: non-zero in the parts of a split chunk."""
    part: str = ""
    """Which part of a split chunk this is ('' for a whole chunk)."""

    @property
    def size(self) -> int:
        """Payload bytes."""
        return sum(len(piece.data) for piece in self.pieces)

    @property
    def name(self) -> str:
        """Unique per chunk and per part: the store key's suffix."""
        return f"{self.chunk_id}/{self.part}" if self.part else self.chunk_id

    def pack(self) -> bytes:
        return pack(
            [
                WIRE_VERSION,
                self.node,
                self.source_module,
                self.framing.to_wire(),
                self.chunk_id,
                self.received_at,
                self.first_position,
                self.part,
                [piece.to_wire() for piece in self.pieces],
            ]
        )

    @staticmethod
    def unpack(data: bytes) -> Chunk:
        wire: list[Any] = unpack(data)
        if not wire or wire[0] != WIRE_VERSION:
            raise ValueError(f"unknown chunk format {wire[:1]!r}")
        _, node, source, framing, chunk_id, received_at, first, part, pieces = wire
        return Chunk(
            node,
            source,
            Framing.from_wire(framing),
            [Piece.from_wire(piece) for piece in pieces],
            chunk_id,
            received_at,
            first,
            part,
        )

    def with_pieces(self, pieces: list[Piece], first_position: int, part: str) -> Chunk:
        return replace(self, pieces=pieces, first_position=first_position, part=part)
