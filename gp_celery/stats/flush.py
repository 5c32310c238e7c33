"""A process's side: its running totals, written to Redis every few seconds."""

from __future__ import annotations

import bisect
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, Final

import orjson
from redis.exceptions import RedisError

from gp_celery.stats.keys import KEEP_SECS, SEP, ProcessId, processes_key, totals_key

log = logging.getLogger(__name__)

FLUSH_SECS: Final = 5.0
"""How often a process writes its totals: one pipelined round trip each time."""
LATENCY_BOUNDS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Upper bounds (seconds) of the task latency histogram's buckets (Prometheus' defaults
plus 30 s, for slow sinks)."""


def node_fields(counters: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    """``node|<id>|<counter>`` -> total, for a pipeline's ``counters()`` (zeros left out:
    totals only grow, so a field once written is never wrong by being absent)."""
    return {
        f"node{SEP}{node}{SEP}{name}": value
        for node, counts in counters.items()
        for name, value in counts.items()
        if value
    }


def module_fields(stats: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    """``module|<id>|<stat>`` -> total, for what modules count themselves (drops a UDP
    socket's kernel saw, refused connections, ...)."""
    return {
        f"module{SEP}{node}{SEP}{name}": value
        for node, counts in stats.items()
        for name, value in counts.items()
        if value
    }


class StageLatency:
    """How long this process's tasks took, per stage: a count, a sum and cumulative buckets,
    as Prometheus histograms keep them (so a fleet's histograms add up)."""

    def __init__(self) -> None:
        self.tasks: Counter[str] = Counter()
        self.secs: dict[str, float] = {}
        self.buckets: dict[str, list[int]] = {}

    def observe(self, stage: str, secs: float) -> None:
        self.tasks[stage] += 1
        self.secs[stage] = self.secs.get(stage, 0.0) + secs
        counts = self.buckets.setdefault(stage, [0] * len(LATENCY_BOUNDS))
        for index in range(bisect.bisect_left(LATENCY_BOUNDS, secs), len(LATENCY_BOUNDS)):
            counts[index] += 1

    def fields(self) -> dict[str, float]:
        found: dict[str, float] = {}
        for stage, tasks in self.tasks.items():
            found[f"stage{SEP}{stage}{SEP}tasks"] = tasks
            found[f"stage{SEP}{stage}{SEP}secs"] = round(self.secs[stage], 6)
            for bound, count in zip(LATENCY_BOUNDS, self.buckets[stage], strict=True):
                found[f"stage{SEP}{stage}{SEP}le{SEP}{bound}"] = count
        return found


class StatsFlusher:
    """Writes one process's totals (whatever ``read`` returns) every FLUSH_SECS."""

    def __init__(
        self,
        client: Any,
        name: str,
        process: ProcessId,
        read: Callable[[], Mapping[str, float]],
        *,
        about: Mapping[str, Any] | None = None,
        interval: float = FLUSH_SECS,
    ) -> None:
        self.client = client
        self.process = process
        self.read = read
        self.about = dict(about or {})
        """What ``stats`` shows of the process (its config digests, queues)."""
        self.interval = interval
        self._totals_key = totals_key(name, str(process))
        self._processes_key = processes_key(name)
        self._last = float("-inf")
        self._failing = False
        self._flushes = 0

    def flush_if_due(self, now: float) -> None:
        if now - self._last >= self.interval:
            self._last = now
            self.flush()

    def flush(self, *, stopped: bool = False) -> None:
        """One pipelined write; Redis trouble is logged once and the next flush tries again
        (the totals are whole each time, so nothing is lost by a missed one)."""
        about = {
            **self.about,
            "role": self.process.role,
            "host": self.process.host,
            "pid": self.process.pid,
            "started": self.process.started,
            "seen": time.time(),
            "interval": self.interval,
            "stopped": stopped,
        }
        self._flushes += 1
        totals = {**self.read(), f"process{SEP}flushes": self._flushes}
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(self._totals_key, mapping=totals)  # never empty: an idle process shows too
        pipe.expire(self._totals_key, KEEP_SECS)
        pipe.hset(self._processes_key, str(self.process), orjson.dumps(about))
        pipe.expire(self._processes_key, KEEP_SECS)
        try:
            pipe.execute()
        except (RedisError, OSError) as error:
            if not self._failing:
                log.warning("Could not write this process's counters to Redis (%s).", error)
            self._failing = True
            return
        self._failing = False
