"""The reading side: every process's totals added up, with queue depths and dead letters."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from gp_celery.broker.letters import DEAD_LETTER_KEY, PARKED_KEY
from gp_celery.stats.keys import SEP, processes_key, totals_key

PRIORITY_SUFFIXES: Final = ("", "\x06\x163", "\x06\x166", "\x06\x169")
"""kombu's Redis transport keeps a queue's messages of other priorities in lists with these
suffixes."""
UNACKED_KEY: Final = "unacked"
"""kombu's hash of messages delivered to a worker and not yet acknowledged."""
MISSED_FLUSHES: Final = 3
"""A process that has not written for this many intervals (plus a little) is not alive."""


@dataclass
class ProcessInfo:
    id: str
    role: str
    host: str
    pid: int
    started: float
    seen: float
    interval: float
    stopped: bool
    about: dict[str, Any]

    def alive(self, now: float) -> bool:
        return not self.stopped and now - self.seen <= self.interval * MISSED_FLUSHES + 2


@dataclass
class Latency:
    tasks: int = 0
    secs: float = 0.0
    buckets: dict[float, int] = field(default_factory=dict)
    """Upper bound -> tasks that took at most that long (cumulative)."""


@dataclass
class FleetTotals:
    """What the fleet did, summed over every process that ever flushed (and still kept)."""

    read_at: float
    processes: list[ProcessInfo]
    nodes: dict[str, Counter[str]]
    modules: dict[str, Counter[str]]
    stages: dict[str, Latency]
    listeners: Counter[str]
    queue_depths: dict[str, int]
    unacked: int
    dead_letters: int
    parked: int

    @classmethod
    def empty(cls, read_at: float | None = None) -> FleetTotals:
        return cls(
            time.time() if read_at is None else read_at, [], {}, {}, {}, Counter(), {}, 0, 0, 0
        )

    @property
    def in_flight(self) -> int:
        """Tasks queued or being run: a run is finished only when this is 0."""
        return sum(self.queue_depths.values()) + self.unacked

    def alive(self) -> list[ProcessInfo]:
        return [process for process in self.processes if process.alive(self.read_at)]

    def as_json(self) -> dict[str, Any]:
        return {
            "read_at": self.read_at,
            "processes": [
                {**process.about, "id": process.id, "alive": process.alive(self.read_at)}
                for process in self.processes
            ],
            "nodes": {node: dict(counts) for node, counts in self.nodes.items()},
            "modules": {node: dict(counts) for node, counts in self.modules.items()},
            "stages": {
                stage: {
                    "tasks": lat.tasks,
                    "secs": lat.secs,
                    "buckets": {str(bound): n for bound, n in sorted(lat.buckets.items())},
                }
                for stage, lat in self.stages.items()
            },
            "listeners": dict(self.listeners),
            "queue_depths": self.queue_depths,
            "unacked": self.unacked,
            "in_flight": self.in_flight,
            "dead_letters": self.dead_letters,
            "parked": self.parked,
        }


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def _number(raw: bytes | str) -> float:
    value = float(_text(raw))
    return int(value) if value.is_integer() else value


def read_fleet(client: Any, name: str, queues: list[str]) -> FleetTotals:
    """Two round trips: the process list, then every process's totals and the depths."""
    known = client.hgetall(processes_key(name))
    processes = []
    for raw_id, raw_about in known.items():
        about = orjson.loads(raw_about)
        processes.append(
            ProcessInfo(
                _text(raw_id),
                str(about.get("role", "?")),
                str(about.get("host", "?")),
                int(about.get("pid", 0)),
                float(about.get("started", 0)),
                float(about.get("seen", 0)),
                float(about.get("interval", 5)),
                bool(about.get("stopped", False)),
                about,
            )
        )
    processes.sort(key=lambda process: (process.role, process.host, process.started))
    pipe = client.pipeline(transaction=False)
    for process in processes:
        pipe.hgetall(totals_key(name, process.id))
    for queue in queues:
        for suffix in PRIORITY_SUFFIXES:
            pipe.llen(queue + suffix)
    pipe.hlen(UNACKED_KEY)
    pipe.llen(DEAD_LETTER_KEY)
    pipe.llen(PARKED_KEY)
    results = pipe.execute()
    read_at = time.time()
    totals = FleetTotals.empty(read_at)
    for process, fields in zip(processes, results, strict=False):
        if not fields:  # its totals expired: forget it
            continue
        totals.processes.append(process)
        for raw_field, raw_value in fields.items():
            _add(totals, _text(raw_field).split(SEP), _number(raw_value))
    depths = results[len(processes) :]
    for index, queue in enumerate(queues):
        at = index * len(PRIORITY_SUFFIXES)
        totals.queue_depths[queue] = sum(int(n) for n in depths[at : at + len(PRIORITY_SUFFIXES)])
    totals.unacked, totals.dead_letters, totals.parked = (int(n) for n in results[-3:])
    return totals


def totals_from_fields(fields: Mapping[str, float]) -> FleetTotals:
    """One process's totals (as it flushes them) in the shape a fleet's are read."""
    totals = FleetTotals.empty()
    for name, value in fields.items():
        _add(totals, name.split(SEP), value)
    return totals


def _add(totals: FleetTotals, parts: list[str], value: float) -> None:
    kind, *rest = parts
    if kind == "node" and len(rest) == 2:
        totals.nodes.setdefault(rest[0], Counter())[rest[1]] += int(value)
    elif kind == "module" and len(rest) == 2:
        totals.modules.setdefault(rest[0], Counter())[rest[1]] += int(value)
    elif kind == "listener" and len(rest) == 1:
        totals.listeners[rest[0]] += int(value)
    elif kind == "stage" and len(rest) >= 2:
        latency = totals.stages.setdefault(rest[0], Latency())
        if rest[1] == "tasks":
            latency.tasks += int(value)
        elif rest[1] == "secs":
            latency.secs += value
        elif rest[1] == "le" and len(rest) == 3:
            bound = float(rest[2])
            latency.buckets[bound] = latency.buckets.get(bound, 0) + int(value)
