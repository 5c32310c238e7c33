"""Compression that file-like sinks share (FileSink, WebHdfsSink): one member per append.

Each batch for a file is compressed on its own and appended: a gzip member (``zcat`` and
``gzip.open`` read concatenated members as one stream) or a snappy framed stream (whose
stream identifier may repeat, so appended streams read as one too).
"""

from __future__ import annotations

import gzip
import importlib
import importlib.util
from collections.abc import Callable
from typing import Literal

Compression = Literal["gzip", "snappy"]

SUFFIXES: dict[str, str] = {"gzip": ".gz", "snappy": ".snappy"}
"""The file name suffix each compression conventionally gets."""


def check_compression(kind: str | None) -> str | None:
    """For an options validator: snappy needs python-snappy, which is optional."""
    if kind == "snappy" and importlib.util.find_spec("snappy") is None:
        raise ValueError(
            "compress 'snappy' is not supported: python-snappy is not installed "
            "(pip install python-snappy), or use 'gzip'"
        )
    return kind


def compressor(kind: str | None) -> Callable[[bytes], bytes] | None:
    """A function compressing one appended payload, or None for no compression."""
    if kind == "gzip":
        return lambda payload: gzip.compress(payload, compresslevel=6, mtime=0)
    if kind == "snappy":
        snappy = importlib.import_module("snappy")  # checked at load
        return lambda payload: bytes(snappy.StreamCompressor().compress(payload))
    return None
