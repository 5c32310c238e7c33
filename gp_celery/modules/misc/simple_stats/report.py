"""What one interval's report says, as a log line and as statistic events."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

from gp_celery.event import Batch, new_event, set_event_type
from gp_celery.modules.misc.simple_stats.options import WHOLE_NUMBERS, SimpleStatsOptions

STATISTIC_TYPE: Final = "statistic"


@dataclass
class Totals:
    """One interval's numbers, of this process or of the whole fleet."""

    elapsed: float
    """Seconds the numbers cover (0: unknown, no rate is given)."""
    start: float
    """When the interval began, in seconds since the epoch."""
    events: int = 0
    types: Counter[Any] = field(default_factory=Counter)
    process_stats: dict[str, float] = field(default_factory=dict)
    """psutil numbers: this process's, or in a fleet the sum over its processes."""
    processes: int | None = None
    """In a fleet: how many processes ran the node in the interval. None: embedded."""
    extra: dict[str, str] = field(default_factory=dict)
    """The hash's fields of other kinds, by full name (a module's own, e.g. Metrics')."""


def _number(name: str, value: float) -> float:
    return int(value) if name in WHOLE_NUMBERS else round(value, 2)


def summary(label: str, options: SimpleStatsOptions, totals: Totals, final: bool = False) -> str:
    """The report line, e.g. "SimpleStats: 1234 events in 10.0s (123.4/s); by type: ..."."""
    head = label
    if totals.processes is not None:
        plural = "" if totals.processes == 1 else "es"
        head += f" ({totals.processes} process{plural})"
    parts = []
    if options.receive_rate_statistics:
        count, elapsed = totals.events, totals.elapsed
        timing = f" in {elapsed:.1f}s ({count / elapsed:.1f}/s)" if elapsed > 0 else ""
        parts.append(f"{count} events{timing}")
    if options.event_type_statistics:
        by_type = ", ".join(f"{name}={count}" for name, count in totals.types.most_common())
        parts.append(f"by type: {by_type or 'none'}")
    if totals.process_stats:
        which = "process" if totals.processes is None else "processes"
        numbers = ", ".join(f"{k}={_number(k, v)}" for k, v in totals.process_stats.items())
        parts.append(f"{which}: {numbers}")
    return f"{head}: {'final: ' if final else ''}{'; '.join(parts)}"


def statistic_events(source: str, options: SimpleStatsOptions, totals: Totals) -> Batch:
    """One event of event_type 'statistic' per number, e.g. for GraphiteSink."""
    counts: list[tuple[str, int]] = []
    if options.receive_rate_statistics:
        counts.append(("events_received", totals.events))
    if options.event_type_statistics:
        types = sorted(totals.types.items(), key=lambda item: str(item[0]))
        counts += [(f"event_type_{name}", count) for name, count in types]
    elapsed = totals.elapsed
    numbers: list[tuple[str, float, dict[str, float]]] = [
        (name, count, {"event_rate": round(count / elapsed, 3) if elapsed > 0 else 0.0})
        for name, count in counts
    ]
    process_stats = totals.process_stats.items()
    numbers += [(f"process_{name}", _number(name, v), {}) for name, v in process_stats]
    emitted = []
    for field_name, value, rate in numbers:
        event = new_event("", source)
        set_event_type(event, STATISTIC_TYPE)
        event.update(
            field_name=field_name,
            field_count=value,
            interval=options.interval,
            **rate,
            interval_start=round(totals.start, 3),
            processes=1 if totals.processes is None else totals.processes,
        )
        emitted.append(event)
    return emitted
