"""Framing: how the bytes an input receives become events, the same way in every mode.

Two halves: a listener *cuts* each stream at its last complete record boundary (``cut.py``,
no text decoding, no events) and collects the pieces into chunks (``chunk.py``); whoever
runs the pipeline (a worker, or embedded mode's one process) *decodes* a chunk's records
into events (``decode.py``). ``spec.py`` says what a framing is, ``options.py`` declares
the options every stream input shares, ``text.py`` turns one record's bytes into text.
"""

from __future__ import annotations

from gp_celery.framing.chunk import Chunk, new_chunk_id
from gp_celery.framing.cut import Cutter, count_records, cutter
from gp_celery.framing.decode import Decoded, decode_chunk, record_count
from gp_celery.framing.spec import Framing, FramingKind, Piece, compile_separator
from gp_celery.framing.text import (
    ASCII_WHITESPACE,
    DEFAULT_MAX_LINE_BYTES,
    INVALID_UTF8,
    decode_record,
    overlong_reason,
    truncate_utf8,
)

__all__ = [
    "ASCII_WHITESPACE",
    "DEFAULT_MAX_LINE_BYTES",
    "INVALID_UTF8",
    "Chunk",
    "Cutter",
    "Decoded",
    "Framing",
    "FramingKind",
    "Piece",
    "compile_separator",
    "count_records",
    "cutter",
    "decode_chunk",
    "decode_record",
    "new_chunk_id",
    "overlong_reason",
    "record_count",
    "truncate_utf8",
]
