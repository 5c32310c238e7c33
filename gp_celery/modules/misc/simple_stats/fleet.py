"""SimpleStats' fleet-wide counts in Redis: one hash per node and wall-clock interval, which
every process adds to, and one claim per interval, which exactly one process wins.

A hash ``gp-celery:simple-stats:<node>:<interval index>`` holds ``events``, ``type:<name>``
counts, ``stat:<name>`` psutil sums and one ``process:<host:pid>`` field per process that
ran the node in the interval. ``...:<index>:reported`` is the claim (``SET NX``). Both
expire a few intervals later.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from typing import Any, Final

import orjson

from gp_celery.modules.misc.simple_stats.report import Totals

PREFIX: Final = "gp-celery:simple-stats:"
GRACE_SECS: Final = 2.0
"""How long after its end an interval is reported: every process adds its counts about
once a second, so by then every live process has added its share."""
CATCH_UP: Final = 3
"""Ended intervals a process still tries to report after a pause (older keys are gone)."""
OTHER: Final = "(other)"
"""Where the values beyond a module's max_values are counted (Statistics, Metrics)."""
MAX_VALUE_CHARS: Final = 200
"""Longer values are counted by their first 200 characters."""


def value_text(value: Any) -> str:
    """How a value is counted: text as it is, anything else as JSON; at most 200 chars."""
    text = value if isinstance(value, str) else _json(value)
    return text[:MAX_VALUE_CHARS]


def _json(value: Any) -> str:
    try:
        return orjson.dumps(value, default=str, option=orjson.OPT_SORT_KEYS).decode()
    except orjson.JSONEncodeError:  # an int beyond 64 bits, a lone surrogate
        return str(value)


def count_name(name: str, value: str | int | float | bool | None) -> str:
    """The name a (name, value) pair is counted under, in a Counter and in the Redis hash
    (JSON: a value that is a number comes back a number)."""
    try:
        return orjson.dumps([name, value]).decode()
    except orjson.JSONEncodeError:  # a lone surrogate: counted with U+FFFD in its place
        fixed = [_replaced(text) for text in (name, value)]
        return orjson.dumps(fixed).decode()


def _replaced(value: object) -> object:
    return value.encode("utf-8", "replace").decode() if isinstance(value, str) else value


class Intervals:
    """Where a process stands on the wall clock's grid of ``length``-second intervals:
    the interval of its last tick and, in a fleet, the last ended one it tried to report.
    SimpleStats, Statistics and Metrics keep their books by it."""

    def __init__(self, length: float) -> None:
        self.length = length
        self.current: int | None = None
        self.reported = 0

    def index_at(self, wall: float) -> int:
        return int(wall // self.length)

    def current_or_now(self) -> int:
        """The interval of the last tick, or the one now if there was none."""
        return self.current if self.current is not None else self.index_at(time.time())

    def ended(self, wall: float) -> int | None:
        """One process alone: the interval that ended since the last tick, if one did."""
        index = self.index_at(wall)
        if self.current is None:
            self.current = index
        if index == self.current:
            return None
        ended, self.current = self.current, index
        return ended

    def due(self, wall: float) -> tuple[int, range]:
        """A fleet: the interval now, and the ended ones a report is due for (past their
        grace, not tried before, at most CATCH_UP back). A process that was not there
        before this interval owes no report of earlier ones."""
        index = self.index_at(wall)
        if self.current is None:
            self.current, self.reported = index, index - 1
        last_due = self.index_at(wall - GRACE_SECS) - 1
        return index, range(max(self.reported + 1, last_due - CATCH_UP + 1), last_due + 1)

    def advance(self, index: int, due: range) -> None:
        """The exchange of a tick went through: ``index`` is current, ``due`` tried."""
        self.current = index
        self.reported = max(self.reported, due.stop - 1)


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


class FleetCounts:
    """One SimpleStats node's counts in Redis, for one process of the fleet."""

    def __init__(self, redis: Any, node_id: str, process: str, interval: float) -> None:
        self.redis = redis
        self.prefix = f"{PREFIX}{node_id}:"
        self.process = process
        self.interval = interval
        self.ttl = math.ceil(interval * (CATCH_UP + 2) + GRACE_SECS)

    def exchange(self) -> Exchange:
        return Exchange(self)

    def totals(self, index: int, fields: dict[Any, Any]) -> Totals:
        """An interval's totals from its hash."""
        totals = Totals(elapsed=self.interval, start=index * self.interval, processes=0)
        for raw_name, raw_value in fields.items():
            kind, _, name = _text(raw_name).partition(":")
            value = _text(raw_value)
            if kind == "events":
                totals.events = int(value)
            elif kind == "type":
                totals.types[name] = int(value)
            elif kind == "stat":
                totals.process_stats[name] = float(value)
            elif kind == "process":
                totals.processes = (totals.processes or 0) + 1
            else:  # a module's own kind of field (Metrics' percentile summaries)
                totals.extra[_text(raw_name)] = value
        totals.process_stats = dict(sorted(totals.process_stats.items()))
        return totals


class Exchange:
    """One pipelined round trip (MULTI/EXEC, so a lost connection adds nothing twice): what
    this process adds, and the ended intervals it claims and reads."""

    def __init__(self, fleet: FleetCounts) -> None:
        self.fleet = fleet
        self.pipe = fleet.redis.pipeline(transaction=True)
        self.claims: list[tuple[int, int]] = []  # (interval index, position of its SET NX)

    def __len__(self) -> int:
        return len(self.pipe)

    def add_counts(self, index: int, events: int, types: Counter[Any]) -> None:
        key, pipe = self.fleet.prefix + str(index), self.pipe
        pipe.hincrby(key, "events", events)
        pipe.hincrby(key, f"process:{self.fleet.process}", events)
        for name, count in types.items():
            pipe.hincrby(key, f"type:{name}", count)
        pipe.expire(key, self.fleet.ttl)

    def add_presence(self, index: int, process_stats: dict[str, float]) -> None:
        """Say that this process ran the node in interval ``index``, with its psutil numbers."""
        key, pipe = self.fleet.prefix + str(index), self.pipe
        pipe.hincrby(key, f"process:{self.fleet.process}", 0)
        for name, value in process_stats.items():
            pipe.hincrbyfloat(key, f"stat:{name}", value)
        pipe.expire(key, self.fleet.ttl)

    def claim(self, index: int) -> None:
        key = self.fleet.prefix + str(index)
        self.claims.append((index, len(self.pipe)))
        self.pipe.set(f"{key}:reported", self.fleet.process, nx=True, ex=self.fleet.ttl)
        self.pipe.hgetall(key)

    def execute(self) -> list[Totals]:
        """Run it; the totals of the intervals this process won, oldest first."""
        results = self.pipe.execute()
        return [
            self.fleet.totals(index, results[at + 1]) for index, at in self.claims if results[at]
        ]
