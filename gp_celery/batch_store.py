"""Batches travel by reference (a claim check): the events go to Redis as one binary
value, the task message carries only its key.

Why: a task message on the Redis transport is JSON around a base64 body, decoded twice
by Celery (consumer and pool) and copied once more into the unacked hash; for a 500-event
batch that cost about 7 ms per task, more than running the batch. A binary GET is a
fraction of that. The key is deleted only after the stage ran and its crossing batches
were sent, so a redelivered task finds its events again (at least once); keys expire after
``GP_BATCH_TTL_SECS`` (7 days) so a batch whose publish was abandoned does not stay forever.
Without a Redis store (an AMQP broker and no GP_REDIS_URL) events travel inline.
"""

from __future__ import annotations

import os
import secrets
from typing import Any, Final

from gp_celery.codec import pack, unpack
from gp_celery.event import Batch

KEY_PREFIX: Final = "gp-celery:batch:"
Payload = Batch | str
"""What a task carries: the events themselves, or the key of a stored batch."""


def batch_ttl_secs() -> int:
    return int(os.environ.get("GP_BATCH_TTL_SECS", str(7 * 24 * 3600)))


def new_key() -> str:
    return f"{KEY_PREFIX}{secrets.token_hex(12)}"


class BatchStore:
    def __init__(self, client: Any) -> None:
        self.client = client

    def put(self, events: Batch, key: str | None = None) -> str:
        key = key or new_key()
        self.client.set(key, pack(events), ex=batch_ttl_secs())
        return key

    def get(self, key: str) -> Batch | None:
        data = self.client.get(key)
        return None if data is None else list(unpack(data))

    def delete(self, key: str) -> None:
        self.client.delete(key)


_stores: list[BatchStore | None] = []


def batch_store() -> BatchStore | None:
    """This process's store, or None when no Redis is configured."""
    if not _stores:
        from gp_celery.worker import redis_client, redis_store_url

        _stores.append(BatchStore(redis_client()) if redis_store_url() else None)
    return _stores[0]
