"""What the parsers of binary payloads (msgpack, compressed data, collectd packets) share:
the bytes behind a field's value."""

from __future__ import annotations

from typing import Any


def as_bytes(value: Any, kind: str) -> bytes:
    """The bytes behind a value: bytes as they are, str encoded back with surrogateescape
    (how inputs hand over undecodable data). Raises ValueError naming ``kind`` ('msgpack
    bytes') for any other type, and for text with surrogates that escape did not make."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        try:
            return value.encode("utf-8", errors="surrogateescape")
        except UnicodeEncodeError as error:
            raise ValueError(f"is text with {error.reason}, not undecoded bytes") from None
    raise ValueError(f"is {type(value).__name__}, not {kind}")
