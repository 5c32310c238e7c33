"""RedisStore: a Redis server that other nodes name by id, as cache or shared state."""

from __future__ import annotations

from gp_celery.modules.base import Example, Misc
from gp_celery.modules.key_values import StoreOptions
from gp_celery.modules.registry import register


@register
class RedisStore(Misc[StoreOptions]):
    """A Redis server other nodes use by id (redis_store, backend); sees no events.

    It stands alone: it is no receiver of the entry before it and sends nothing on. Nodes
    name it by its id: XPathParser and HttpRequest (``redis_store``, ``redis_key``,
    ``redis_ttl``) cache their results in it, Facet keeps its facets in it, and Throttle
    (``backend``) its counts. Every process that names it opens its own connection to the
    same server, so a fleet shares what is kept there. A name that is no store node is a
    config error.

    Differences from GambolPutty/LumberMill: values are stored as JSON, not pickles (a
    pickle read from a shared server could run code). ``cluster`` (rediscluster) is not
    supported. ``batch_size``, ``store_interval_in_secs`` and ``backlog_size`` are
    accepted and not needed: modules write a batch's keys in one pipelined round trip, so
    no buffer waits to be lost in a crash. ``charset``, ``errors`` and
    ``decode_responses`` are accepted and not used. Its Python API (get/set/pop/iterKeys)
    is not offered to ExecPython code.
    """

    aliases = ("misc.RedisStore",)
    stands_alone = True
    state = "shared"
    examples = [
        Example(
            options={"server": "redis.example.net", "port": 6379, "db": 2},
            given=[],
            expect=[],
            note="With an XPathParser or HttpRequest that says redis_store: RedisStore and "
            "redis_key: '$(url)', every worker shares their results through this server.",
        ),
    ]
