"""A piece's ``meta`` (a TLS client's certificate name) reaches every event of the piece,
across the wire and when a chunk is split, and chunks without it keep the old wire form."""

from __future__ import annotations

from gp_celery.event import META, RECEIVED_FROM
from gp_celery.framing import Chunk, Framing, Piece, decode_chunk
from gp_celery.framing.split import split_chunk

META_ITEMS = (("tls_client_cn", "client one"),)


def test_piece_meta_survives_the_wire_and_a_split() -> None:
    pieces = [
        Piece("10.0.0.1:5", b"a\nb\nc\nd\n", meta=META_ITEMS),
        Piece("10.0.0.2:6", b"e\n"),
    ]
    chunk = Chunk.unpack(Chunk("tcp", "TcpServer", Framing(), pieces).pack())
    assert chunk.pieces == pieces
    for part in [chunk, *split_chunk(chunk)]:
        for event in decode_chunk(part).events:
            expected = "client one" if event["data"] < "e" else None
            assert event[META].get("tls_client_cn") == expected
            assert event[META][RECEIVED_FROM].startswith("10.0.0.")


def test_a_piece_without_meta_keeps_the_five_item_wire_form() -> None:
    wire = Piece("x", b"a\n").to_wire()
    assert len(wire) == 5
    assert Piece.from_wire(wire) == Piece("x", b"a\n")
