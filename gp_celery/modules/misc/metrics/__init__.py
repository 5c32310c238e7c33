"""Metrics: counts per value (or bucket) and percentiles of fields, per interval; fleet-wide."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from typing import Any

from redis.exceptions import RedisError

from gp_celery.clock import wall_clock
from gp_celery.event import MISSING, Batch, Event, FieldPath, field_path
from gp_celery.expressions import Template
from gp_celery.modules.base import Example, Misc
from gp_celery.modules.misc.metrics.fleet import FleetSamples, Key
from gp_celery.modules.misc.metrics.numbers import (
    CountedValue,
    Sample,
    Summary,
    as_number,
    bucket_of,
    counted_value,
)
from gp_celery.modules.misc.metrics.options import MetricsOptions
from gp_celery.modules.misc.metrics.report import METRICS_TYPE, Interval
from gp_celery.modules.misc.simple_stats.fleet import (
    OTHER,
    FleetCounts,
    Intervals,
    count_name,
)
from gp_celery.modules.registry import register

__all__ = ["METRICS_TYPE", "Metrics", "MetricsOptions"]

Counted = tuple[Template, FieldPath, str, list[float], Sequence[CountedValue]]
"""An aggregation, compiled: name, field path, field name, bucket bounds and names."""


class Names:
    """The distinct names of one interval, at most ``limit``; further ones are '(other)'."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.seen: set[str] = set()

    def render(self, template: Template, event: Event) -> str | None:
        name = template.try_render(event)
        if name is None or name in self.seen:
            return name
        if len(self.seen) >= self.limit:
            return OTHER
        self.seen.add(name)
        return name


@register
class Metrics(Misc[MetricsOptions]):
    """Count values (or numeric buckets) and summarise numbers per name and interval.

    Every ``interval`` seconds (aligned to the wall clock) it sends on, per aggregation
    name, one event of event_type 'metrics': ``{field_name, field_counts: {value: count},
    total_count, interval, interval_start, processes}``, and per percentile name
    ``{field_name, count, min, max, mean, std, percentiles: [...], sampled, interval,
    interval_start, processes}`` (``processes``: how many worker processes added to the
    numbers; 1 outside a fleet). Names are
    templates (``http_status_$(vhost)``; LumberMill's ``%{vhost}`` means the same); an
    event lacking a field the name refers to, or the counted field, is not counted for
    it. Events pass on unchanged.

    The keys of ``field_counts`` are the values as they were, as in LumberMill: 200 and
    '200' are two keys (JSON output writes every key as text); text is cut at 200
    characters, and lists or maps count by their JSON text. Beyond ``max_values`` distinct
    values of a name, and beyond ``max_names`` names, the rest count as '(other)'. With
    ``buckets``, a number goes into the first bucket whose ``upper`` is greater than it
    (numpy.digitize's default, as LumberMill: a number equal to a bound goes into the next
    bucket), counted under the bucket's ``name`` as given; at or above the last bound it
    counts as '(over)'. Percentiles
    interpolate linearly between the nearest ranks (numpy.percentile's default); ``std`` is
    the population's (numpy.std's default). A value that is not a finite number (text that
    is not one, None, bool, NaN, inf, lists) is not counted for buckets or percentiles and
    the event is tagged (``gambolputty.errors``); it still passes on. count, min, max,
    mean and std cover every number; the percentiles a uniform random sample of
    ``max_samples`` of them when there are more (``sampled: true``).

    State: in a fleet the numbers are the whole fleet's, as SimpleStats' and Statistics'
    are (the same Redis hashes and claims): each worker process adds its counts, number
    summaries and sampled numbers to Redis about once a second, in one pipelined round
    trip, and about two seconds after an interval ends exactly one process sends its
    events on. A fleet without Redis reports per process. In embedded mode the last,
    partial interval is sent on at the end of the run.

    Differences from LumberMill: the numbers are fleet-wide (LumberMill's were one
    machine's); intervals are aligned to the wall clock; numeric text is a number (parsers
    yield text), bool is not; numbers beyond the last bucket count as '(over)' (LumberMill
    raised IndexError); ``field`` is preferred to ``value``; the events also carry
    ``interval_start`` and ``processes``, percentile events ``count`` and ``sampled``;
    ``max_values``, ``max_samples`` and ``max_names`` bound memory; numpy is not needed.
    """

    aliases = ("misc.Metrics",)
    state = "shared"
    examples = [
        Example(
            options={
                "interval": 60,
                "aggregations": [{"name": "http_status_$(vhost)", "field": "http_status"}],
                "percentiles": [
                    {"name": "request_time", "field": "request_time", "percentiles": [50, 99]}
                ],
            },
            given=[{"vhost": "a", "http_status": 200, "request_time": 0.25}],
            expect=[{"vhost": "a", "http_status": 200, "request_time": 0.25}],
            note="Events pass on; every minute it sends e.g. {'field_name': "
            "'http_status_a', 'field_counts': {'200': 1}, 'total_count': 1, 'interval': 60} "
            "and {'field_name': 'request_time', 'min': 0.25, 'max': 0.25, 'percentiles': "
            "[0.25, 0.25], ...}.",
        ),
    ]

    def setup(self) -> None:
        options = self.options
        self._counted = [
            (
                rule.name,
                field_path(rule.source),
                rule.source,
                [bucket.upper for bucket in rule.buckets],
                [bucket.name for bucket in rule.buckets],
            )
            for rule in options.aggregations
        ]
        self._summarised = [(rule.name, field_path(rule.field)) for rule in options.percentiles]
        self._random = random.Random()  # noqa: S311 - sampling, not secrecy
        self._counts: Counter[str] = Counter()
        self._samples: dict[Key, Sample] = {}  # the numbers since the last report or tick
        self._restart()
        self._intervals = Intervals(options.interval)
        self._fleet: FleetCounts | None = None
        self._fleet_samples: FleetSamples | None = None
        self._summaries: dict[Key, Summary] = {}  # this process's, this interval (fleet)
        if self.context.redis is not None:
            process = self.context.process
            self._fleet = FleetCounts(self.context.redis, self.node_id, process, options.interval)
            self._fleet_samples = FleetSamples(self._fleet, options.max_samples)

    def _restart(self) -> None:
        """A new interval: names and values are capped afresh."""
        self._values: dict[str, set[CountedValue]] = {}
        self._count_names = Names(self.options.max_names)
        self._number_names = Names(self.options.max_names)

    def process(self, events: Batch) -> Batch:
        for event in events:
            for rule in self._counted:
                self._count(event, rule)
            for position, (template, path) in enumerate(self._summarised):
                self._collect(event, position, template, path)
        return events

    def _count(self, event: Event, rule: Counted) -> None:
        template, path, source, uppers, names = rule
        value = path.get(event)
        if value is MISSING:
            return
        if uppers:
            number = as_number(value)
            if number is None:
                self.fail(event, f"{source!r} is not a finite number, not counted in buckets")
                return
            counted = bucket_of(number, uppers, names)
        else:
            counted = counted_value(value)
        name = self._count_names.render(template, event)
        if name is None:
            return
        seen = self._values.setdefault(name, set())
        if counted not in seen:
            if len(seen) >= self.options.max_values:
                counted = OTHER
            else:
                seen.add(counted)
        self._counts[count_name(name, counted)] += 1

    def _collect(self, event: Event, position: int, template: Template, path: FieldPath) -> None:
        value = path.get(event)
        if value is MISSING:
            return
        number = as_number(value)
        if number is None:
            field = self.options.percentiles[position].field
            self.fail(event, f"{field!r} is not a finite number, not in percentiles")
            return
        name = self._number_names.render(template, event)
        if name is None:
            return
        sample = self._samples.get((position, name))
        if sample is None:
            sample = self._samples[position, name] = Sample(self.options.max_samples)
        sample.add(number, self._random.random())

    def tick(self, now: float) -> Batch:
        wall = wall_clock(now)
        if self._fleet is not None:
            return self._tick_fleet(self._fleet, wall)
        ended = self._intervals.ended(wall)
        return [] if ended is None else self._take_report(ended)

    def flush(self) -> Batch:
        if self._fleet is not None:
            return []
        return self._take_report(self._intervals.current_or_now())

    def close(self) -> None:
        if self._fleet is None or not (self._counts or self._samples):
            return
        try:
            self._exchange(self._fleet, self._intervals.current_or_now(), [])
        except RedisError as error:
            self.log.warning(
                "%s: could not add this process's last numbers to Redis (%s); the fleet's "
                "report lacks them.",
                self.label,
                error,
            )

    def _take_report(self, index: int) -> Batch:
        counts, self._counts = self._counts, Counter()
        samples, self._samples = self._samples, {}
        self._restart()
        numbers = {key: (sample.summary, sample.numbers()) for key, sample in samples.items()}
        return self._report(index, counts, numbers)

    def _exchange(self, fleet: FleetCounts, index: int, due: range | list[int]) -> Batch:
        """Add this process's numbers and claim the intervals due: one round trip; then
        read the numbers of the intervals won. Raises RedisError, keeping the numbers."""
        assert self._fleet_samples is not None
        if index != self._intervals.current:
            self._summaries = {}
        summaries = {
            key: self._summaries.get(key, Summary()).merge(sample.summary)
            for key, sample in self._samples.items()
        }
        exchange = fleet.exchange()
        if self._counts or self._samples:
            exchange.add_counts(index, 0, self._counts)
            self._fleet_samples.add(exchange, index, summaries, self._samples)
        for ended in due:
            exchange.claim(ended)
        if not len(exchange):
            return []
        won = exchange.execute()
        self._summaries.update(summaries)
        self._counts, self._samples = Counter(), {}
        interval = self.options.interval
        reported = []
        for totals in won:
            ended = round(totals.start / interval)
            numbers = self._fleet_samples.read(ended, totals.extra)
            processes = totals.processes or 1
            reported.extend(self._report(ended, totals.types, numbers, processes))
        return reported

    def _tick_fleet(self, fleet: FleetCounts, wall: float) -> Batch:
        intervals = self._intervals
        index, due = intervals.due(wall)
        try:
            reported = self._exchange(fleet, index, due)
        except RedisError as error:
            self.warn_limited(
                "redis", "cannot reach Redis (%s); the numbers are kept and added later.", error
            )
            return []
        if index != intervals.current:
            self._restart()
        intervals.advance(index, due)
        return reported

    def _report(
        self,
        index: int,
        counts: Counter[Any],
        numbers: dict[Key, tuple[Summary, list[float]]],
        processes: int = 1,
    ) -> Batch:
        interval = Interval(self.name, self.options.interval, index, processes)
        wanted = [rule.percentiles for rule in self.options.percentiles]
        return interval.count_events(counts) + interval.number_events(numbers, wanted)
