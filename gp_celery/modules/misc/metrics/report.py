"""What one interval's report sends on: 'metrics' events of counts and of numbers."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Final

import orjson

from gp_celery.event import Batch, Event, new_event, set_event_type
from gp_celery.modules.misc.metrics.fleet import Key
from gp_celery.modules.misc.metrics.numbers import (
    CountedValue,
    Summary,
    counted_order,
    percentile,
)

METRICS_TYPE: Final = "metrics"


@dataclass(frozen=True)
class Interval:
    """One reported interval of a Metrics node."""

    source_module: str
    interval: float
    index: int
    processes: int
    """How many processes added to the numbers (1 outside a fleet)."""

    def count_events(self, counts: Counter[Any]) -> Batch:
        """One event per name: ``field_counts`` from the counts of (name, value) pairs."""
        by_name: dict[str, Counter[CountedValue]] = {}
        for encoded, count in counts.items():
            name, value = orjson.loads(encoded)
            by_name.setdefault(name, Counter())[value] += count
        emitted = []
        for name, values in sorted(by_name.items()):
            event = self._event(name)
            event["field_counts"] = dict(
                sorted(values.items(), key=lambda item: counted_order(item[0]))
            )
            event["total_count"] = values.total()
            emitted.append(event)
        return emitted

    def number_events(
        self, numbers: dict[Key, tuple[Summary, list[float]]], wanted: list[list[float]]
    ) -> Batch:
        """One event per percentile rule and name; ``wanted``: each rule's percentiles."""
        emitted = []
        for (position, name), (summary, ordered) in sorted(numbers.items()):
            if not summary.count or not ordered:
                continue
            event = self._event(name)
            event.update(
                count=summary.count,
                min=summary.low,
                max=summary.high,
                mean=summary.mean,
                std=summary.std,
                percentiles=[percentile(ordered, p) for p in wanted[position]],
                sampled=summary.count > len(ordered),
            )
            emitted.append(event)
        return emitted

    def _event(self, name: str) -> Event:
        event = new_event("", self.source_module)
        set_event_type(event, METRICS_TYPE)
        event.update(
            field_name=name,
            interval=self.interval,
            interval_start=self.index * self.interval,
            processes=self.processes,
        )
        return event
