"""Metrics' percentile numbers in the fleet's Redis, beside the counts in SimpleStats' hash.

In an interval's hash (see simple_stats/fleet.py), ``pct:[rule, name, process]`` holds that
process's Summary of the name in the interval (overwritten at each tick, so it is always
the whole interval's). ``<hash key>:sample:[rule, name]`` is a sorted set of the numbers
with the smallest random scores, trimmed to ``max_samples`` at every write: a uniform
sample of the whole fleet's numbers, bounded however many processes add to it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any, Final

import orjson

from gp_celery.modules.misc.metrics.numbers import Sample, Summary
from gp_celery.modules.misc.simple_stats.fleet import Exchange, FleetCounts

SUMMARY: Final = "pct:"

Key = tuple[int, str]
"""A percentile rule's index and a rendered name."""


def _sample_key(fleet: FleetCounts, index: int, key: Key) -> str:
    return f"{fleet.prefix}{index}:sample:{orjson.dumps(list(key)).decode()}"


class FleetSamples:
    """Writes this process's percentile numbers; reads an interval's, once it is won."""

    def __init__(self, fleet: FleetCounts, limit: int) -> None:
        self.fleet = fleet
        self.limit = limit
        self._serial: Iterator[int] = itertools.count()  # makes every member unique

    def add(
        self, exchange: Exchange, index: int, summaries: dict[Key, Summary], new: dict[Key, Sample]
    ) -> None:
        """Queue this process's interval summaries and the numbers kept since the last tick."""
        fleet, pipe = self.fleet, exchange.pipe
        hash_key = fleet.prefix + str(index)
        process = fleet.process
        for key, summary in summaries.items():
            field = SUMMARY + orjson.dumps([*key, process]).decode()
            pipe.hset(hash_key, field, orjson.dumps(summary.as_list()))
        for key, sample in new.items():
            members = {
                orjson.dumps([number, process, next(self._serial)]): score
                for score, number in sample.scored()
            }
            if not members:
                continue
            sample_key = _sample_key(fleet, index, key)
            pipe.zadd(sample_key, members)
            pipe.zremrangebyrank(sample_key, self.limit, -1)
            pipe.expire(sample_key, fleet.ttl)
        pipe.expire(hash_key, fleet.ttl)

    def read(self, index: int, extra: dict[str, str]) -> dict[Key, tuple[Summary, list[float]]]:
        """The fleet's summary and sampled numbers per name, from a won interval's hash
        fields: one more round trip, by the one process that reports the interval."""
        summaries: dict[Key, Summary] = {}
        for field, value in extra.items():
            if not field.startswith(SUMMARY):
                continue
            rule, name, _process = orjson.loads(field[len(SUMMARY) :])
            summary = Summary.from_list(orjson.loads(value))
            key = (int(rule), str(name))
            summaries[key] = summaries.get(key, Summary()).merge(summary)
        pipe = self.fleet.redis.pipeline(transaction=False)
        keys = sorted(summaries)
        for key in keys:
            pipe.zrange(_sample_key(self.fleet, index, key), 0, -1)
        found: list[Any] = pipe.execute() if keys else []
        return {
            key: (summaries[key], sorted(float(orjson.loads(m)[0]) for m in members))
            for key, members in zip(keys, found, strict=True)
        }
