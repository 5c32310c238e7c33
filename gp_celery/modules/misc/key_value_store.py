"""KeyValueStore: a key/value store (in process or in Redis) other nodes name by id."""

from __future__ import annotations

from gp_celery.modules.base import Example, Misc
from gp_celery.modules.key_values import KeyValueStoreOptions
from gp_celery.modules.registry import register


@register
class KeyValueStore(Misc[KeyValueStoreOptions]):
    """A key/value store other nodes use by id (redis_store, backend); sees no events.

    It stands alone, as RedisStore does. ``backend: DictStore`` keeps the keys in the
    memory of each process that uses it (at most ``max_entries``, the least recently
    written first out): every worker process has its own, so in a fleet a cache there is
    per process, and Throttle counts in the fleet's Redis instead (see Throttle).
    ``backend: RedisStore`` keeps them in the Redis server the options name, shared by
    every process, as RedisStore does. Either way a fleet gives the same results as one
    process: a per-process DictStore only ever serves as a cache (a miss computes the
    value again), and what must be fleet-wide (Throttle's counts) goes to Redis.

    Differences from GambolPutty: simplekv is not used; ``MemcacheStore`` is refused (it
    never had a client in the original either); values are JSON, not pickles;
    ``max_entries`` is new (a bound on memory).
    """

    aliases = ("misc.KeyValueStore",)
    stands_alone = True
    examples = [
        Example(
            options={"backend": "RedisStore", "server": "redis.example.net"},
            given=[],
            expect=[],
            note="A Throttle with backend: KeyValueStore counts in this server.",
        ),
    ]
