"""Key/value stores that nodes share by id: RedisStore, KeyValueStore and Cache nodes, and
the options that name one (``redis_store`` of XPathParser, HttpRequest and Facet,
Throttle's ``backend``).

A store node stands alone (it never sees events). An option naming it is a ``StoreRef``;
when the config loads, ``gp_celery.config.stores`` checks that the id names a store node and
hands the reference that node's options, so a worker that never builds the store node
still opens the same store. ``open_store`` gives one client per store and process.
"""

from __future__ import annotations

import codecs
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Annotated, Any, Final, Literal, Protocol

import orjson
from pydantic import Field, PlainValidator, WithJsonSchema, field_validator, model_validator

from gp_celery.event import Event
from gp_celery.expressions import Template
from gp_celery.modules.base import Options


def redis_errors() -> type[Exception]:
    """redis-py's error class, imported when a store is used: importing redis costs every
    command ~0.1 s of start-up, and most configs have no store."""
    from redis.exceptions import RedisError

    return RedisError


__all__ = [
    "DictKeyValues",
    "KeyValueStoreOptions",
    "KeyValues",
    "KeyedCache",
    "RedisKeyValues",
    "StoreId",
    "StoreOptions",
    "StoreRef",
    "open_store",
]

Backend = Literal["DictStore", "RedisStore", "MemcacheStore"]
WARN_EVERY: Final = 10.0


class StoreOptions(Options):
    """Where a store keeps its keys: RedisStore's options (KeyValueStore and Cache add a
    ``backend``)."""

    server: str | None = "localhost"
    """Redis host; 'host:port' also works."""
    cluster: dict[str, Any] = {}
    """GambolPutty's rediscluster map; only {} (one server) is supported."""
    port: int = Field(default=6379, ge=1, le=65535)
    """Redis port (unless server says 'host:port')."""
    db: int = Field(default=0, ge=0)
    """Redis database number."""
    password: str | None = None
    """Redis password (use ${VAR} to keep it out of the file)."""
    socket_timeout: float = Field(default=10, gt=0)
    """Seconds a Redis command may take."""
    charset: str = "utf-8"
    """Accepted for GambolPutty configs; values are stored as JSON (UTF-8) whatever it says."""
    errors: str = "strict"
    """Accepted for GambolPutty configs; not used."""
    decode_responses: bool = False
    """Accepted for GambolPutty configs; not used (the modules decode what they read)."""
    unix_socket_path: str | None = None
    """Redis unix socket; when set, server and port are not used."""
    batch_size: int | None = Field(default=None, ge=1)
    """Accepted and not needed: every module writes a batch's keys in one pipelined round
    trip already."""
    store_interval_in_secs: int | None = Field(default=None, ge=1)
    """Accepted and not needed (see batch_size): nothing waits in a buffer to be lost."""
    backlog_size: int = Field(default=5000, ge=1)
    """Accepted and not needed (see batch_size)."""

    @field_validator("cluster")
    @classmethod
    def _one_server(cls, cluster: dict[str, Any]) -> dict[str, Any]:
        if cluster:
            raise ValueError(
                "Redis Cluster is not supported (GambolPutty's rediscluster client is long "
                "gone); name one server with 'server', or a Sentinel-managed address"
            )
        return cluster

    @field_validator("charset")
    @classmethod
    def _known_charset(cls, charset: str) -> str:
        try:
            codecs.lookup(charset)
        except LookupError:
            raise ValueError(f"unknown charset {charset!r}") from None
        return charset

    @property
    def host_port(self) -> tuple[str, int]:
        host, colon, port = (self.server or "localhost").rpartition(":")
        if colon and port.isdigit() and host:
            return host.strip("[]"), int(port)
        return self.server or "localhost", self.port


class KeyValueStoreOptions(StoreOptions):
    """KeyValueStore's and Cache's options: RedisStore's, plus where the keys live."""

    backend: Backend = "DictStore"
    """'DictStore' (this process's memory, at most max_entries keys) or 'RedisStore' (a
    Redis server, shared by every process that names this node)."""
    server: str | None = None
    """Redis host ('host:port' also works); required for backend 'RedisStore' unless
    unix_socket_path is set."""
    max_entries: int = Field(default=100_000, ge=1)
    """DictStore: most keys kept; the least recently written go first."""

    @model_validator(mode="after")
    def _supported_backend(self) -> KeyValueStoreOptions:
        if self.backend == "MemcacheStore":
            raise ValueError(
                "backend 'MemcacheStore' is not supported (LumberMill never implemented its "
                "client either); use 'RedisStore' or 'DictStore'"
            )
        if self.backend == "RedisStore" and not (self.server or self.unix_socket_path):
            raise ValueError("backend 'RedisStore' needs 'server' or 'unix_socket_path'")
        return self


class StoreRef:
    """An option naming a store node by id; ``settings`` is that node's options, set when
    the config loads (config/stores.py)."""

    __slots__ = ("node_id", "settings")

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.settings: StoreOptions | None = None

    def __repr__(self) -> str:
        return f"StoreRef({self.node_id!r})"

    def __str__(self) -> str:
        return self.node_id


def _store_ref(value: Any) -> StoreRef:
    if isinstance(value, StoreRef):
        return value
    if not isinstance(value, str) or not value:
        raise ValueError("expected the id of a RedisStore, KeyValueStore or Cache node")
    return StoreRef(value)


StoreId = Annotated[StoreRef, PlainValidator(_store_ref), WithJsonSchema({"type": "string"})]
"""An option naming a store node by id."""


class KeyValues(Protocol):
    """What modules do with a store, a batch at a time (one round trip per call)."""

    redis: Any
    """The Redis client, or None for a store in process memory."""

    def get_many(self, keys: list[str]) -> list[bytes | None]: ...

    def set_many(self, items: dict[str, bytes], ttl: float) -> None: ...

    def add_counts(self, counts: dict[str, int], ttl: float) -> dict[str, int]:
        """Add to each key's count; a new key expires ``ttl`` seconds after it was made.
        Returns the counts after adding."""
        ...


# INCRBY and the expiry of a new key in one atomic step: a key that expired between two
# separate commands would otherwise come back without a TTL and count forever.
ADD_COUNT: Final = """
local count = redis.call('INCRBY', KEYS[1], ARGV[1])
if count == tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return count
"""


def _raw(key: str) -> bytes:
    """A key as Redis gets it: UTF-8, a lone surrogate (from undecodable input) kept as
    its own bytes rather than failing the batch."""
    return key.encode("utf-8", "surrogatepass")


class RedisKeyValues:
    """A store in Redis: every process that opens it shares its keys."""

    def __init__(self, client: Any) -> None:
        self.redis = client
        self._add_count = client.register_script(ADD_COUNT)

    def get_many(self, keys: list[str]) -> list[bytes | None]:
        if not keys:
            return []
        return list(self.redis.mget([_raw(key) for key in keys]))

    def set_many(self, items: dict[str, bytes], ttl: float) -> None:
        if not items:
            return
        pipe = self.redis.pipeline(transaction=False)
        milliseconds = max(1, round(ttl * 1000))
        for key, value in items.items():
            pipe.set(_raw(key), value, px=milliseconds)
        pipe.execute()

    def add_counts(self, counts: dict[str, int], ttl: float) -> dict[str, int]:
        pipe = self.redis.pipeline(transaction=False)
        milliseconds = max(1, round(ttl * 1000))
        for key, amount in counts.items():
            self._add_count(keys=[_raw(key)], args=[amount, milliseconds], client=pipe)
        return dict(zip(counts, map(int, pipe.execute()), strict=True))


class DictKeyValues:
    """A store in this process's memory, at most ``max_entries`` keys (the least recently
    written go first, counted as evictions)."""

    redis = None

    def __init__(self, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self.evicted = 0
        self._entries: OrderedDict[str, tuple[float, Any]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def _live(self, key: str, now: float) -> Any:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if now >= entry[0]:
            del self._entries[key]
            return None
        return entry[1]

    def _put(self, key: str, expires: float, value: Any) -> None:
        self._entries[key] = (expires, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
            self.evicted += 1

    def get_many(self, keys: list[str]) -> list[bytes | None]:
        now = self.clock()
        return [self._live(key, now) for key in keys]

    def set_many(self, items: dict[str, bytes], ttl: float) -> None:
        now = self.clock()
        for key, value in items.items():
            self._put(key, now + ttl, value)

    def add_counts(self, counts: dict[str, int], ttl: float) -> dict[str, int]:
        now = self.clock()
        found = {}
        for key, amount in counts.items():
            entry = self._entries.get(key)
            if entry is None or now >= entry[0]:
                entry = (now + ttl, 0)
            total = entry[1] + amount
            self._put(key, entry[0], total)
            found[key] = total
        return found

    def drop_expired(self) -> None:
        now = self.clock()
        for key in [key for key, (expires, _) in self._entries.items() if now >= expires]:
            del self._entries[key]


_opened: dict[tuple[str, str, int], KeyValues] = {}


def open_store(settings: StoreOptions) -> KeyValues:
    """The store these settings describe, one per settings and process (a Redis connection
    must not cross a fork; a DictStore is shared by the nodes naming it)."""
    key = (type(settings).__name__, settings.model_dump_json(), os.getpid())
    store = _opened.get(key)
    if store is None:
        if isinstance(settings, KeyValueStoreOptions) and settings.backend == "DictStore":
            store = DictKeyValues(settings.max_entries)
        else:
            store = RedisKeyValues(redis_for(settings))
        _opened[key] = store
    return store


def redis_for(settings: StoreOptions) -> Any:
    import redis
    from redis.backoff import ConstantBackoff
    from redis.retry import Retry

    common: dict[str, Any] = {
        "db": settings.db,
        "password": settings.password,
        "socket_timeout": settings.socket_timeout,
        "socket_connect_timeout": settings.socket_timeout,
        # One quick retry (a connection the server closed); redis-py's default backs off
        # for seconds, and a batch would wait that long for a server that is down.
        "retry": Retry(ConstantBackoff(0.05), 1),
    }
    if settings.unix_socket_path:
        return redis.Redis(unix_socket_path=settings.unix_socket_path, **common)
    host, port = settings.host_port
    return redis.Redis(host=host, port=port, **common)


Warn = Callable[..., None]
"""A module's warn_limited."""


class KeyedCache:
    """Results cached in a store under a key rendered per event (GambolPutty's
    ``redis_store``/``redis_key``/``redis_ttl``): one round trip reads a batch's keys, one
    writes what the batch computed. Values are kept as JSON. A store that does not answer
    is warned about and the batch computes everything, as without a cache."""

    def __init__(self, store: KeyValues, key: Template, ttl: float, warn: Warn) -> None:
        self.store = store
        self.key = key
        self.ttl = ttl
        self.warn = warn
        self.hits = 0
        self._pending: dict[str, bytes] = {}

    def read(self, events: Iterable[Event]) -> list[tuple[str | None, bool, Any]]:
        """Per event: (its key or None, found, the cached value)."""
        keys = [self.key.try_render(event) for event in events]
        wanted = sorted({key for key in keys if key})
        try:
            values = dict(zip(wanted, self.store.get_many(wanted), strict=True))
        except redis_errors() as error:
            self.warn("cache-read", "cannot read the cache (%s); computing every value.", error)
            values = {}
        found: list[tuple[str | None, bool, Any]] = []
        for key in keys:
            raw = values.get(key) if key else None
            if raw is None:
                found.append((key or None, False, None))
                continue
            try:
                found.append((key, True, orjson.loads(raw)))
            except orjson.JSONDecodeError:  # written by someone else: computed again
                found.append((key, False, None))
                continue
            self.hits += 1
        return found

    def remember(self, key: str | None, value: Any) -> None:
        if key:
            try:
                self._pending[key] = orjson.dumps(value)
            except TypeError:
                return

    def write(self) -> None:
        pending, self._pending = self._pending, {}
        try:
            self.store.set_many(pending, self.ttl)
        except redis_errors() as error:
            self.warn("cache-write", "cannot write the cache (%s); values are not kept.", error)
