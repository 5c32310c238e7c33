"""Chunks and crossing batches travel by reference (a claim check): the data is one binary
value in Redis, the task message carries only its key.

Why: a task message on the Redis transport is JSON around a base64 body, decoded twice by
Celery (consumer and pool) and copied once more into the unacked hash; as a key it costs a
fraction of that. Every stored key is also registered (with the time) in a sorted set, so a
sweep can find a chunk whose message was lost (see ``sweep.py``). A key is deleted, with its
delivery counter and registration, only after its stage ran and what it handed on was sent:
a redelivered task finds its data again (at least once). Keys expire after
``chunk_ttl_secs`` so an abandoned one does not stay forever.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any, Final

from gp_celery.codec import pack, unpack
from gp_celery.event import Batch
from gp_celery.framing import Chunk

CHUNK_PREFIX: Final = "gp-celery:chunk:"
BATCH_PREFIX: Final = "gp-celery:batch:"
DELIVERIES_PREFIX: Final = "gp-celery:deliveries:"
REGISTRY_KEY: Final = "gp-celery:stored"
"""Sorted set of every stored key with its route (``Route.member``), scored by when it was
stored: what a sweep needs to send a lost message again."""

Payload = str | dict[str, Any]
"""What a task carries: the key of stored data, or (no Redis store) the data itself:
``{"chunk": bytes}`` or ``{"events": [...]}``."""


def chunk_key(chunk: Chunk) -> str:
    return f"{CHUNK_PREFIX}{chunk.name}"


def new_batch_key() -> str:
    return f"{BATCH_PREFIX}{secrets.token_hex(10)}"


@dataclass(frozen=True)
class Route:
    """Where a stored key's task goes: the node it enters at, its queue, its digest."""

    entry: str
    queue: str
    digest: str
    key: str

    @property
    def member(self) -> str:
        return "\x1f".join((self.entry, self.queue, self.digest, self.key))

    @staticmethod
    def from_member(member: str | bytes) -> Route:
        text = member.decode() if isinstance(member, bytes) else member
        entry, queue, digest, key = text.split("\x1f", 3)
        return Route(entry, queue, digest, key)


@dataclass
class Taken:
    """What a task found under its key."""

    chunk: Chunk | None
    events: Batch | None
    deliveries: int
    """How often this key's task has started, this time included (0: not counted)."""


def inline(data: Chunk | Batch) -> dict[str, Any]:
    """The payload for a broker without a Redis store: the data inside the message."""
    if isinstance(data, Chunk):
        return {"chunk": data.pack()}
    return {"events": data}


def from_inline(payload: dict[str, Any]) -> Taken:
    if "chunk" in payload:
        return Taken(Chunk.unpack(payload["chunk"]), None, 0)
    return Taken(None, list(payload["events"]), 0)


class ChunkStore:
    """Redis-backed storage of chunks and batches, keyed, registered and counted."""

    def __init__(self, client: Any, ttl_secs: int) -> None:
        self.client = client
        self.ttl = ttl_secs

    def put_chunk(self, chunk: Chunk, entry: str, queue: str, digest: str) -> Route:
        route = Route(entry, queue, digest, chunk_key(chunk))
        self._put(route, chunk.pack())
        return route

    def put_batch(self, events: Batch, entry: str, queue: str, digest: str) -> Route:
        route = Route(entry, queue, digest, new_batch_key())
        self._put(route, pack(events))
        return route

    def _put(self, route: Route, data: bytes) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.set(route.key, data, ex=self.ttl)
        pipe.zadd(REGISTRY_KEY, {route.member: time.time()})
        pipe.execute()

    def take(self, key: str) -> Taken:
        """The data under ``key`` and its delivery count (incremented here).

        The count is best effort: Redis refuses the increment at maxmemory, and a task that
        can still run must not fail for it (0 then means "not counted")."""
        pipe = self.client.pipeline(transaction=False)
        pipe.get(key)
        pipe.incr(DELIVERIES_PREFIX + key)
        pipe.expire(DELIVERIES_PREFIX + key, self.ttl)
        data, count, _ = pipe.execute(raise_on_error=False)
        if isinstance(data, Exception):
            raise data
        deliveries = count if isinstance(count, int) else 0
        if data is None:
            return Taken(None, None, deliveries)
        if key.startswith(CHUNK_PREFIX):
            return Taken(Chunk.unpack(data), None, deliveries)
        return Taken(None, list(unpack(data)), deliveries)

    def exists(self, key: str) -> bool:
        return bool(self.client.exists(key))

    def done(self, route: Route) -> None:
        """The key's stage ran and what it handed on was sent: forget it."""
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(route.key, DELIVERIES_PREFIX + route.key)
        pipe.zrem(REGISTRY_KEY, route.member)
        pipe.execute()

    def stored_before(self, when: float, limit: int = 1000) -> list[Route]:
        """Routes of keys stored before ``when`` (oldest first)."""
        found = self.client.zrangebyscore(REGISTRY_KEY, "-inf", when, start=0, num=limit)
        return [Route.from_member(member) for member in found]

    def forget(self, route: Route) -> None:
        """Drop a registration whose data is gone (expired, or done by a lost ack)."""
        self.client.zrem(REGISTRY_KEY, route.member)
