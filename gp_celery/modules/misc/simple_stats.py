"""SimpleStats: log how many events pass, per event type, every interval."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import Field

from gp_celery.event import EVENT_TYPE, META, UNKNOWN_TYPE, Batch, Event, new_event, set_event_type
from gp_celery.modules.base import Misc, Options
from gp_celery.modules.registry import register

STATISTIC_TYPE = "statistic"


class SimpleStatsOptions(Options):
    interval: float = Field(default=10, gt=0)
    """Seconds between two reports."""
    event_type_statistics: bool = True
    """Count events per gambolputty.event_type."""
    receive_rate_statistics: bool = True
    """Report the number of events and events per second."""
    waiting_event_statistics: bool = False
    """Accepted for GambolPutty configs; there are no module queues to report in this design."""
    emit_as_event: bool = False
    """Also send the numbers on as events of event_type 'statistic'."""


def _type_of(event: Event) -> Any:
    meta = event.get(META)
    return meta.get(EVENT_TYPE, UNKNOWN_TYPE) if isinstance(meta, dict) else UNKNOWN_TYPE


@register
class SimpleStats(Misc[SimpleStatsOptions]):
    """Count the events passing through and log rates per event type; events pass on.

    Every ``interval`` seconds (checked in ``tick()``, so at about one-second resolution) it
    logs one line, e.g. ``SimpleStats: 1234 events in 10.0s (123.4/s); by type:
    httpd_access_log=1200, Unknown=34``, and ``close()`` logs the rest. Counters are per
    process, as in GambolPutty: with several workers each logs its own share (fleet-wide
    numbers are in ``gp-celery stats``). The rate uses the time actually elapsed.

    With ``emit_as_event`` the report also goes on as events of event_type 'statistic':
    ``{field_name: 'events_received' | 'event_type_<type>', field_count, interval,
    event_rate}``, e.g. for GraphiteSink. ``waiting_event_statistics`` is accepted and does
    nothing: there are no module queues in embedded mode, and the broker's queue depths are
    shown by Flower and ``gp-celery stats``.
    """

    aliases = ("misc.SimpleStats",)

    def setup(self) -> None:
        self._count = 0
        self._types: Counter[Any] = Counter()
        self._since: float | None = None  # the runner's clock at the start of this interval
        self._last_tick: float | None = None

    def process(self, events: Batch) -> Batch:
        self._count += len(events)
        if self.options.event_type_statistics:
            self._types.update(map(_type_of, events))
        return events

    def tick(self, now: float) -> Batch:
        self._last_tick = now
        if self._since is None:
            self._since = now
            return []
        if now - self._since < self.options.interval:
            return []
        return self._report(now)

    def close(self) -> None:
        if self._count:
            now = self._last_tick if self._last_tick is not None else 0.0
            self._report(now, final=True)

    def _report(self, now: float, final: bool = False) -> Batch:
        elapsed = max(now - (self._since if self._since is not None else now), 0.0)
        if self.options.receive_rate_statistics or self.options.event_type_statistics:
            self.log.info("%s", self.summary(elapsed, final))
        emitted = self._as_events(elapsed) if self.options.emit_as_event and not final else []
        self._count, self._types, self._since = 0, Counter(), now
        return emitted

    def summary(self, elapsed: float, final: bool = False) -> str:
        """The report line, e.g. "SimpleStats: 1234 events in 10.0s (123.4/s); by type: ..."."""
        parts = [f"{self.label}: "]
        if final:
            parts.append("final: ")
        if self.options.receive_rate_statistics:
            timing = f" in {elapsed:.1f}s ({self._count / elapsed:.1f}/s)" if elapsed > 0 else ""
            parts.append(f"{self._count} events{timing}")
        if self.options.event_type_statistics:
            by_type = ", ".join(f"{name}={count}" for name, count in self._types.most_common())
            separator = "; " if self.options.receive_rate_statistics else ""
            parts.append(f"{separator}by type: {by_type or 'none'}")
        return "".join(parts)

    def _as_events(self, elapsed: float) -> Batch:
        counts = []
        if self.options.receive_rate_statistics:
            counts.append(("events_received", self._count))
        if self.options.event_type_statistics:
            types = sorted(self._types.items(), key=lambda item: str(item[0]))
            counts += [(f"event_type_{name}", count) for name, count in types]
        emitted = []
        for field_name, count in counts:
            event = new_event("", self.name)
            set_event_type(event, STATISTIC_TYPE)
            event.update(
                field_name=field_name,
                field_count=count,
                interval=self.options.interval,
                event_rate=round(count / elapsed, 3) if elapsed > 0 else 0.0,
            )
            emitted.append(event)
        return emitted
