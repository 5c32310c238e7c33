"""Cache: LumberMill's key/value store (KeyValueStore's later name), named by id."""

from __future__ import annotations

from gp_celery.modules.base import Example, Misc
from gp_celery.modules.key_values import KeyValueStoreOptions
from gp_celery.modules.registry import register


@register
class Cache(Misc[KeyValueStoreOptions]):
    """LumberMill's key/value store, named by id like KeyValueStore; sees no events.

    The same store as KeyValueStore, under LumberMill's name and defaults (``backend:
    DictStore``; ``server`` required for ``RedisStore``). Nodes name it in
    ``redis_store`` (XPathParser, HttpRequest, Facet) or Throttle's ``backend``. A
    DictStore is per process; a RedisStore is shared by every process of a fleet.

    Differences from LumberMill: the ``cache``/``cache_key``/``cache_ttl``/``cache_lock``
    options that LumberMill modules used to name a Cache are not read (the modules here
    take ``redis_store``/``redis_key``/``redis_ttl``, GambolPutty's names); values are
    JSON, not pickles; ``MemcacheStore`` is refused; ``batch_size`` and
    ``store_interval_in_secs`` are accepted and not needed (writes are pipelined per
    batch); ``max_entries`` bounds a DictStore.
    """

    aliases = ("misc.Cache",)
    stands_alone = True
    examples = [
        Example(
            options={"backend": "RedisStore", "server": "redis.example.net:6379"},
            given=[],
            expect=[],
            note="An HttpRequest with redis_store: Cache and redis_key: '$(url)' shares its "
            "responses through this server.",
        ),
    ]
