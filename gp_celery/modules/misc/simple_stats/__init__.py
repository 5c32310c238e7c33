"""SimpleStats: log how many events pass, per event type, every interval; fleet-wide."""

from __future__ import annotations

from collections import Counter
from typing import Any

from redis.exceptions import RedisError

from gp_celery.clock import wall_clock
from gp_celery.event import EVENT_TYPE, META, UNKNOWN_TYPE, Batch, Event
from gp_celery.modules.base import Example, Misc
from gp_celery.modules.misc.simple_stats.fleet import (
    Exchange,
    FleetCounts,
    Intervals,
)
from gp_celery.modules.misc.simple_stats.options import METRIC_FIELDS, SimpleStatsOptions
from gp_celery.modules.misc.simple_stats.report import (
    STATISTIC_TYPE,
    Totals,
    statistic_events,
    summary,
)
from gp_celery.modules.registry import register

__all__ = ["STATISTIC_TYPE", "SimpleStats", "SimpleStatsOptions"]


def _type_of(event: Event) -> Any:
    meta = event.get(META)
    return meta.get(EVENT_TYPE, UNKNOWN_TYPE) if isinstance(meta, dict) else UNKNOWN_TYPE


@register
class SimpleStats(Misc[SimpleStatsOptions]):
    """Count the events passing through and log rates per event type; events pass on.

    Every ``interval`` seconds (at about one-second resolution) it logs one line, e.g.
    ``SimpleStats: 1234 events in 10.0s (123.4/s); by type: httpd_access_log=1200,
    Unknown=34; process: cpu_percent=2.5, memory_percent=0.4``, and at the end of the run
    the rest. The rate uses the time actually elapsed.

    In a fleet the numbers are the whole fleet's. Every worker process running the node
    counts its events and adds them to Redis about once a second; intervals are aligned to
    the wall clock (hosts' clocks must agree to within a second, as NTP keeps them), and
    about two seconds after an interval ends exactly one process of the fleet logs its
    totals, e.g. ``SimpleStats (3 processes): 1234 events in 10.0s (123.4/s); by type:
    ...; processes: cpu_percent=7.5, memory_percent=1.2``, where the count is of the
    processes that ran the node in that interval. A process that dies loses at most its
    last second of counts; counts made while Redis does not answer are kept and added when
    it does. An interval with no events is reported too (0 events). When the whole fleet
    stops, its last interval is not reported. A fleet without Redis (a RabbitMQ broker and
    no GP_REDIS_URL) reports per process, as GambolPutty did.

    ``process_statistics`` adds psutil numbers about the process (in a fleet: summed over
    the processes that ran the node; each samples itself once per interval): cpu_percent
    (since the previous interval), memory_percent, memory_info (reported as
    memory_rss_bytes), num_threads, num_fds.

    With ``emit_as_event`` the report also goes on as events of event_type 'statistic',
    one per number: ``{field_name: 'events_received' | 'event_type_<type>' |
    'process_<number>', field_count, interval, event_rate (not for process numbers),
    interval_start (epoch seconds), processes}``, e.g. for GraphiteSink. In a fleet only
    the reporting process sends them.

    Differences from GambolPutty: its counters were per process (each process logged its
    own share; SimpleStatsWithZmq added them up), here a fleet reports once for all its
    processes, so ``SimpleStatsWithZmq`` is another name for this module.
    ``process_statistics`` is LumberMill's option with its default (cheap: a few reads of
    /proc per interval); the names are checked when the config loads.
    ``waiting_event_statistics`` is accepted and does nothing: there are no module queues
    in embedded mode, and Flower shows the broker's queue depths.
    """

    aliases = ("misc.SimpleStats", "SimpleStatsWithZmq", "misc.SimpleStatsWithZmq")
    state = "shared"
    examples = [
        Example(
            options={"interval": 10},
            given=[{"data": "GET /"}, {"data": "GET /favicon.ico"}],
            expect=[{"data": "GET /"}, {"data": "GET /favicon.ico"}],
            note="Events pass on unchanged; every 10 s a line like 'SimpleStats: 2 events "
            "in 10.0s (0.2/s); by type: Unknown=2; process: cpu_percent=0.4, "
            "memory_percent=0.2' is logged.",
        ),
    ]

    def setup(self) -> None:
        self._count = 0
        self._types: Counter[Any] = Counter()
        self._since: float | None = None  # the runner's clock at the start of this interval
        self._last_tick: float | None = None
        self._psutil: Any = None
        if self.options.process_statistics:
            import psutil

            self._psutil = psutil.Process()
            self._psutil.cpu_percent()  # the baseline the first report's cpu_percent is from
        self._fleet: FleetCounts | None = None
        self._intervals = Intervals(self.options.interval)  # (fleet)
        redis = self.context.redis
        if redis is not None:
            process = self.context.process
            self._fleet = FleetCounts(redis, self.node_id, process, self.options.interval)

    def process(self, events: Batch) -> Batch:
        self._count += len(events)
        if self.options.event_type_statistics:
            self._types.update(map(_type_of, events))
        return events

    def tick(self, now: float) -> Batch:
        self._last_tick = now
        if self._fleet is not None:
            return self._tick_fleet(self._fleet, wall_clock(now))
        if self._since is None:
            self._since = now
            return []
        if now - self._since < self.options.interval:
            return []
        return self._report_local(now)

    def close(self) -> None:
        if self._fleet is None:
            if self._count:
                self._report_local(self._last_tick if self._last_tick is not None else 0.0, True)
            return
        if self._count:  # the last tick's interval: its report is still to come
            exchange = self._fleet.exchange()
            exchange.add_counts(self._intervals.current_or_now(), self._count, self._types)
            try:
                exchange.execute()
            except RedisError as error:
                self.log.warning(
                    "%s: could not add this process's last %d events to Redis (%s); "
                    "the fleet's report lacks them.",
                    self.label,
                    self._count,
                    error,
                )

    def _sample(self) -> dict[str, float]:
        """This process's psutil numbers, by report name."""
        if self._psutil is None:
            return {}
        numbers = {}
        with self._psutil.oneshot():
            for method in self.options.process_statistics:
                value = getattr(self._psutil, method)()
                numbers[METRIC_FIELDS[method]] = float(getattr(value, "rss", value))
        return numbers

    def _report_local(self, now: float, final: bool = False) -> Batch:
        since = self._since if self._since is not None else now
        totals = Totals(max(now - since, 0.0), wall_clock(since), self._count, self._types)
        totals.process_stats = self._sample()
        self._count, self._types, self._since = 0, Counter(), now
        return self._report(totals, final)

    def _report(self, totals: Totals, final: bool = False) -> Batch:
        options = self.options
        if options.receive_rate_statistics or options.event_type_statistics or totals.process_stats:
            self.log.info("%s", summary(self.label, options, totals, final))
        if options.emit_as_event and not final:
            return statistic_events(self.name, options, totals)
        return []

    def _tick_fleet(self, fleet: FleetCounts, wall: float) -> Batch:
        """Add this process's counts (and once per interval its presence and psutil
        numbers), claim the intervals that are due: one round trip."""
        intervals = self._intervals
        index, due = intervals.due(wall)
        exchange = fleet.exchange()
        if self._count:
            exchange.add_counts(index, self._count, self._types)
        if intervals.current is not None and index != intervals.current:
            exchange.add_presence(intervals.current, self._sample())
        for ended in due:
            exchange.claim(ended)
        if not len(exchange):
            return []
        won = self._execute(exchange)
        if won is None:
            return []
        intervals.advance(index, due)
        return [event for totals in won for event in self._report(totals)]

    def _execute(self, exchange: Exchange) -> list[Totals] | None:
        """Run the exchange; on success the counts it added start again from zero."""
        try:
            won = exchange.execute()
        except RedisError as error:
            self.warn_limited(
                "redis",
                "cannot reach Redis (%s); the counts are kept and added when it answers.",
                error,
            )
            return None
        self._count, self._types = 0, Counter()
        return won
