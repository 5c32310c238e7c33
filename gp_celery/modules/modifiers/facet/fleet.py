"""Facet's fleet-wide facets in Redis: every process adds what it saw, one process reports.

Per node and wall-clock interval (index = epoch seconds // interval), under
``gp-celery:facet:<node>:<index>``: ``:groups`` (a set of group keys), ``:v:<group>`` (a
sorted set of JSON-encoded values scored by when they were first seen, so the summary
keeps their order), ``:f:<group>`` (a hash: value -> JSON of its add_event_fields, the
first process's wins) and ``:reported`` (the claim, ``SET NX``, that exactly one process
wins). Every key expires a few intervals later.
"""

from __future__ import annotations

import math
from typing import Any, Final

import orjson

PREFIX: Final = "gp-celery:facet:"
GRACE_SECS: Final = 2.0
"""How long after its end an interval is reported: processes add what they saw about
once a second, so by then every live process has added its share."""
CATCH_UP: Final = 3
"""Ended intervals a process still tries to report after a pause."""


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


class Seen:
    """What one process saw of one group in one interval: value (JSON) -> (first seen,
    the event fields kept for it)."""

    def __init__(self) -> None:
        self.values: dict[bytes, tuple[float, dict[str, Any]]] = {}


Summary = tuple[str, list[tuple[Any, dict[str, Any]]]]
"""A group and its values in the order first seen, each with its kept fields."""


class FleetFacets:
    """One Facet node's facets in Redis, for one process of the fleet."""

    def __init__(self, redis: Any, node_id: str, process: str, interval: float, ttl: int):
        self.redis = redis
        self.prefix = f"{PREFIX}{node_id}:"
        self.process = process
        self.ttl = max(ttl, math.ceil(interval * (CATCH_UP + 2) + GRACE_SECS))

    def add(self, seen: dict[tuple[int, str], Seen]) -> None:
        """Add what this process saw, in one MULTI/EXEC round trip."""
        pipe = self.redis.pipeline(transaction=True)
        for (index, group), found in seen.items():
            key = f"{self.prefix}{index}"
            pipe.sadd(f"{key}:groups", group)
            values = {value: first for value, (first, _fields) in found.values.items()}
            pipe.zadd(f"{key}:v:{group}", values, nx=True)
            fields = {value: orjson.dumps(kept) for value, (_, kept) in found.values.items()}
            for value, encoded in fields.items():
                pipe.hsetnx(f"{key}:f:{group}", value, encoded)
            for name in (f"{key}:groups", f"{key}:v:{group}", f"{key}:f:{group}"):
                pipe.expire(name, self.ttl)
        pipe.execute()

    def claim(self, index: int, max_groups: int, max_values: int) -> list[Summary] | None:
        """The summaries of an ended interval if this process wins its claim, else None."""
        key = f"{self.prefix}{index}"
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(f"{key}:reported", self.process, nx=True, ex=self.ttl)
        pipe.smembers(f"{key}:groups")
        won, raw_groups = pipe.execute()
        if not won:
            return None
        groups = sorted(_text(group) for group in raw_groups)[:max_groups]
        pipe = self.redis.pipeline(transaction=False)
        for group in groups:
            pipe.zrange(f"{key}:v:{group}", 0, max_values - 1)
            pipe.hgetall(f"{key}:f:{group}")
        results = pipe.execute()
        cleanup = self.redis.pipeline(transaction=False)
        cleanup.delete(f"{key}:groups")
        summaries = []
        for number, group in enumerate(groups):
            values, fields = results[2 * number], results[2 * number + 1]
            kept = {bytes(raw): orjson.loads(encoded) for raw, encoded in fields.items()}
            summaries.append(
                (group, [(orjson.loads(value), kept.get(bytes(value), {})) for value in values])
            )
            cleanup.delete(f"{key}:v:{group}", f"{key}:f:{group}")
        cleanup.execute()
        return summaries
