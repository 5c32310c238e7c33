"""Throttle: pass only the events whose key is seen between min_count and max_count times
per timeframe; fleet-wide counts in Redis."""

from __future__ import annotations

from collections import Counter
from typing import Final

from pydantic import Field, model_validator
from redis.exceptions import RedisError

from gp_celery.event import Batch
from gp_celery.modules.base import Example, Misc, Options
from gp_celery.modules.key_values import (
    DictKeyValues,
    KeyValues,
    RedisKeyValues,
    StoreId,
    open_store,
)
from gp_celery.modules.registry import register
from gp_celery.modules.types import Template

SWEEP_SECS: Final = 15.0
"""How often an in-process store drops the windows that ended (as GambolPutty did)."""


class ThrottleOptions(Options):
    key: Template
    """Required. What makes events 'the same', e.g. '$(remote_ip)'; a missing field
    renders as ''."""
    timeframe: float = Field(default=600, gt=0, le=366 * 86_400)
    """Seconds a key's window lasts, from the first event with that key."""
    min_count: int = Field(default=1, ge=1)
    """An event passes if it is at least the min_count-th of its key in the window..."""
    max_count: int = Field(default=1, ge=1)
    """...and at most the max_count-th."""
    backend: StoreId | None = None
    """Id of a RedisStore, KeyValueStore or Cache node holding the counts."""
    backend_key_prefix: str = Field(default="gambolputty:throttle", min_length=1)
    """Prefix of the counts' keys: '<prefix>:<rendered key>'."""
    max_keys: int = Field(default=100_000, ge=1)
    """Counts kept in process memory (embedded mode without a Redis backend); the oldest
    go first, so an evicted key starts a new window."""

    @model_validator(mode="after")
    def _ordered(self) -> ThrottleOptions:
        if self.max_count < self.min_count:
            raise ValueError(
                f"'max_count' ({self.max_count}) is smaller than 'min_count' ({self.min_count})"
            )
        return self


@register
class Throttle(Misc[ThrottleOptions]):
    """Pass only events whose key was seen min_count..max_count times in the timeframe.

    Each event counts under its rendered ``key``; a key's window starts with its first
    event and lasts ``timeframe`` seconds. The n-th event of a window passes when
    ``min_count <= n <= max_count``; the others are dropped (counted as dropped by the
    node). The defaults let the first event per key and window through.

    Where the counts live: in Redis whenever there is one, so a fleet throttles as one
    process would. With ``backend`` naming a RedisStore (or a KeyValueStore/Cache with
    ``backend: RedisStore``) they are kept there; otherwise, in a fleet, in the fleet's own
    Redis; in embedded mode (``gp-celery run`` with one process) in memory, at most
    ``max_keys`` keys (a fleet without any Redis counts per process, and says so). Each
    batch adds its counts in one pipelined round trip: a Lua script per key adds the
    batch's events and starts the window's expiry atomically, so across processes exactly
    the events numbered min_count..max_count of a window pass. If Redis does not answer,
    the batch passes unthrottled and each event is tagged.

    Differences from GambolPutty: a fleet's counts are always shared (GambolPutty counted
    per process without a backend); a KeyValueStore with ``backend: DictStore`` counts in
    the fleet's Redis in a fleet, since a per-process count would let each process pass its
    own max_count; ``timeframe`` may be fractional; ``max_keys`` is new.
    """

    aliases = ("misc.Throttle",)
    state = "shared"
    examples = [
        Example(
            options={"key": "$(remote_ip)", "timeframe": 60, "max_count": 2},
            given=[
                {"remote_ip": "10.0.0.1", "n": 1},
                {"remote_ip": "10.0.0.1", "n": 2},
                {"remote_ip": "10.0.0.1", "n": 3},
                {"remote_ip": "10.0.0.2", "n": 4},
            ],
            expect=[
                {"remote_ip": "10.0.0.1", "n": 1},
                {"remote_ip": "10.0.0.1", "n": 2},
                {"remote_ip": "10.0.0.2", "n": 4},
            ],
            note="The third event from 10.0.0.1 within the minute is dropped.",
        ),
    ]

    def setup(self) -> None:
        self._store = self._open()
        self._swept = 0.0

    def _open(self) -> KeyValues:
        backend = self.options.backend
        store = open_store(backend.settings) if backend and backend.settings else None
        if store is not None and store.redis is not None:
            return store
        if self.context.redis is not None:
            return RedisKeyValues(self.context.redis)
        if self.context.process:  # a worker of a fleet without Redis (RabbitMQ, no GP_REDIS_URL)
            self.log.warning(
                "%s: no Redis to count in (no backend, and the fleet has none): each worker "
                "process counts on its own, so each passes up to max_count per key.",
                self.label,
            )
        return DictKeyValues(self.options.max_keys)

    def process(self, events: Batch) -> Batch:
        options = self.options
        prefix = options.backend_key_prefix
        keys = [f"{prefix}:{options.key.render(event)}" for event in events]
        counts = Counter(keys)
        try:
            totals = self._store.add_counts(dict(counts), options.timeframe)
        except RedisError as error:
            self.warn_limited("redis", "cannot count in Redis (%s); passing unthrottled.", error)
            for event in events:
                self.fail(event, f"not throttled: Redis did not answer ({error})")
            return events
        # This batch's events of a key are numbered after the counts other batches made.
        number = {key: totals[key] - count for key, count in counts.items()}
        passing = []
        for event, key in zip(events, keys, strict=True):
            number[key] += 1
            if options.min_count <= number[key] <= options.max_count:
                passing.append(event)
        return passing

    def tick(self, now: float) -> Batch:
        store = self._store
        if isinstance(store, DictKeyValues) and now - self._swept >= SWEEP_SECS:
            self._swept = now
            store.drop_expired()
        return []
