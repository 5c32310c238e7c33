"""Statistics: count the events per value of some fields, every interval; fleet-wide."""

from __future__ import annotations

from collections import Counter
from typing import Any, Final

import orjson
from pydantic import Field
from redis.exceptions import RedisError

from gp_celery.clock import wall_clock
from gp_celery.event import MISSING, Batch, field_path, new_event, set_event_type
from gp_celery.modules.base import Example, Misc, Options
from gp_celery.modules.misc.simple_stats.fleet import (
    OTHER,
    FleetCounts,
    Intervals,
    count_name,
    value_text,
)
from gp_celery.modules.registry import register
from gp_celery.modules.types import FieldName

STATISTIC_TYPE: Final = "statistic"


class StatisticsOptions(Options):
    interval: float = Field(default=10, gt=0, le=86_400)
    """Seconds between two reports (aligned to the wall clock)."""
    fields: list[FieldName] = Field(default=["gambolputty.event_type"], min_length=1)
    """Fields whose values are counted."""
    max_values: int = Field(default=1000, ge=1)
    """Distinct values counted per field and interval (per process in a fleet); the rest
    are counted together as '(other)'."""
    emit_as_event: bool = False
    """Also send the counts on as events of event_type 'statistic'."""


@register
class Statistics(Misc[StatisticsOptions]):
    """Count events per value of each of ``fields``; log the counts every interval.

    Every ``interval`` seconds one line per field is logged, e.g. ``Statistics:
    gambolputty.event_type in 10.0s: httpd_access_log=1200, Unknown=34``, most frequent
    first; an event without the field is not counted for it. Values that are not text are
    counted as JSON; a field's values beyond ``max_values`` in an interval are counted as
    '(other)'. With ``emit_as_event`` the counts also go on as events of event_type
    'statistic': ``{field_name, field_value, field_count, interval, interval_start}``.
    Events pass on unchanged.

    In a fleet the counts are the whole fleet's, as SimpleStats' are (the same Redis
    hashes and claims): every worker process adds its counts to Redis about once a second,
    and about two seconds after an interval ends exactly one process reports it. A fleet
    without Redis counts per process. In embedded mode the last, partial interval is
    logged at the end of the run.

    Differences from GambolPutty: intervals are aligned to the wall clock; ``max_values``
    and ``emit_as_event`` are new; the counts are fleet-wide.
    """

    aliases = ("misc.Statistics",)
    state = "shared"
    examples = [
        Example(
            options={"fields": ["http_status"], "interval": 60},
            given=[{"http_status": 200}, {"http_status": 404}, {"http_status": 200}],
            expect=[{"http_status": 200}, {"http_status": 404}, {"http_status": 200}],
            note="Events pass on; every minute 'Statistics: http_status in 60.0s: 200=2, "
            "404=1' is logged.",
        ),
    ]

    def setup(self) -> None:
        self._paths = [(name, field_path(name)) for name in self.options.fields]
        self._counts: Counter[str] = Counter()
        self._values: dict[str, set[str]] = {name: set() for name in self.options.fields}
        self._intervals = Intervals(self.options.interval)
        self._fleet: FleetCounts | None = None
        if self.context.redis is not None:
            interval = self.options.interval
            process = self.context.process
            self._fleet = FleetCounts(self.context.redis, self.node_id, process, interval)

    def process(self, events: Batch) -> Batch:
        limit = self.options.max_values
        counts = self._counts
        for name, path in self._paths:
            seen = self._values[name]
            for event in events:
                value = path.get(event)
                if value is MISSING:
                    continue
                text = value_text(value)
                if text not in seen:
                    if len(seen) >= limit:
                        text = OTHER
                    else:
                        seen.add(text)
                counts[count_name(name, text)] += 1
        return events

    def tick(self, now: float) -> Batch:
        wall = wall_clock(now)
        if self._fleet is not None:
            return self._tick_fleet(self._fleet, wall)
        ended = self._intervals.ended(wall)
        return [] if ended is None else self._take_report(ended)

    def flush(self) -> Batch:
        if self._fleet is None and self._counts:
            self._take_report(self._intervals.current or 0, final=True)
        return []

    def close(self) -> None:
        if self._fleet is None or not self._counts:
            return
        exchange = self._fleet.exchange()
        exchange.add_counts(self._intervals.current_or_now(), 0, self._counts)
        try:
            exchange.execute()
        except RedisError as error:
            self.log.warning(
                "%s: could not add this process's last counts to Redis (%s); the fleet's "
                "report lacks them.",
                self.label,
                error,
            )

    def _take_report(self, index: int, final: bool = False) -> Batch:
        counts, self._counts = self._counts, Counter()
        self._values = {name: set() for name in self.options.fields}
        return self._report(index, counts, final)

    def _tick_fleet(self, fleet: FleetCounts, wall: float) -> Batch:
        """Add this process's counts and claim the intervals that are due: one round trip."""
        intervals = self._intervals
        index, due = intervals.due(wall)
        exchange = fleet.exchange()
        if self._counts:
            exchange.add_counts(index, 0, self._counts)
        for ended in due:
            exchange.claim(ended)
        if not len(exchange):
            return []
        try:
            won = exchange.execute()
        except RedisError as error:
            self.warn_limited(
                "redis", "cannot reach Redis (%s); the counts are kept and added later.", error
            )
            return []
        self._counts = Counter()
        if index != intervals.current:
            self._values = {name: set() for name in self.options.fields}
        intervals.advance(index, due)
        interval = self.options.interval
        return [
            event
            for totals in won
            for event in self._report(round(totals.start / interval), totals.types)
        ]

    def _report(self, index: int, counts: Counter[Any], final: bool = False) -> Batch:
        """Log one line per field; the statistic events when asked."""
        options = self.options
        by_field: dict[str, Counter[str]] = {name: Counter() for name in options.fields}
        for encoded, count in counts.items():
            name, value = orjson.loads(encoded)
            by_field.setdefault(name, Counter())[value] += count
        when = "final: " if final else ""
        for name, values in by_field.items():
            listed = ", ".join(
                f"{value if value.isprintable() else repr(value)}={count}"
                for value, count in values.most_common()
            )
            self.log.info(
                "%s: %s%s in %.1fs: %s", self.label, when, name, options.interval, listed or "none"
            )
        if not options.emit_as_event or final:
            return []
        emitted = []
        for name, values in by_field.items():
            for value, count in sorted(values.items()):
                event = new_event("", self.name)
                set_event_type(event, STATISTIC_TYPE)
                event.update(
                    field_name=name,
                    field_value=value,
                    field_count=count,
                    interval=options.interval,
                    interval_start=index * options.interval,
                )
                emitted.append(event)
        return emitted
