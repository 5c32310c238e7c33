"""msgpack for batches, round-tripping text that inputs decoded with surrogateescape
(binary TCP stream data such as python-beaver's msgpack), which plain msgpack rejects."""

from __future__ import annotations

from typing import Any

import msgpack


def pack(value: Any) -> bytes:
    packed: bytes = msgpack.packb(value, use_bin_type=True, unicode_errors="surrogateescape")
    return packed


def unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, unicode_errors="surrogateescape")
