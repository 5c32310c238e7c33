"""MergeEvent's open buffers kept in the fleet's Redis, so a killed worker loses none.

A chunk is acknowledged once its events have gone through the node; events that wait in a
buffer have gone through, so without a copy elsewhere a SIGKILL between two batches would
lose them. One hash per node holds each open buffer under its key; the node writes what a
batch changed in one pipelined round trip before the batch goes on, and the next worker
that serves the node starts from what the hash holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from gp_celery.codec import pack, unpack
from gp_celery.event import Event

PREFIX: Final = "gp-celery:merge-event:"


@dataclass
class Stored:
    """One buffer as the hash holds it: when it opened (wall clock), events and texts."""

    started: float
    events: list[Event]
    texts: list[str]


class BufferStore:
    """The hash of one MergeEvent node: buffer key -> msgpack of the buffer."""

    def __init__(self, redis: Any, node_id: str) -> None:
        self.redis = redis
        self.key = f"{PREFIX}{node_id}"

    def load(self) -> dict[str, Stored]:
        """Every buffer the hash holds (left by a worker that did not hand them on)."""
        found = {}
        for raw_key, raw in self.redis.hgetall(self.key).items():
            started, events, texts = unpack(raw)
            found[_text(raw_key)] = Stored(started, events, texts)
        return found

    def save(self, changed: dict[str, Stored], gone: set[str]) -> None:
        """Write the changed buffers and delete the merged ones: one round trip. Raises
        RedisError, or TypeError/ValueError for an event msgpack cannot hold."""
        packed = {
            _field(key): pack([buffer.started, buffer.events, buffer.texts])
            for key, buffer in changed.items()
        }
        pipe = self.redis.pipeline(transaction=False)
        if packed:
            pipe.hset(self.key, mapping=packed)
        if gone:
            pipe.hdel(self.key, *map(_field, gone))
        pipe.execute()


def _field(key: str) -> bytes:
    return key.encode("utf-8", "surrogateescape")


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")
