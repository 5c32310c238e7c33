"""Facet: the distinct values of a field per group and interval, as summary events."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final

import orjson
from redis.exceptions import RedisError

from gp_celery.event import MISSING, Batch, Event, field_path, new_event, set_event_type
from gp_celery.modules.base import Example, Modifier
from gp_celery.modules.key_values import open_store
from gp_celery.modules.modifiers.facet.fleet import (
    CATCH_UP,
    GRACE_SECS,
    FleetFacets,
    Seen,
)
from gp_celery.modules.modifiers.facet.options import FacetOptions
from gp_celery.modules.registry import register

__all__ = ["FACET_TYPE", "Facet", "FacetOptions"]

FACET_TYPE: Final = "facet"
MAX_VALUE_BYTES: Final = 4096
"""Longest value (as JSON) a facet holds; a longer one is tagged and not counted."""
SCALARS: Final = (str, int, float, bool, type(None))


@register
class Facet(Modifier[FacetOptions]):
    """Collect a field's distinct values per group; emit one summary per interval.

    Events pass on unchanged. Every ``interval`` seconds (aligned to the wall clock, at
    about one-second resolution) each group that had events gets a summary event of
    event_type 'facet': ``{facet_field: <source_field>, facet_group: <group>,
    interval_start: <epoch seconds>, facet_count: n, facets: [values, in the order first
    seen], other_event_fields: {str(value): {field: value, ...}}}``, the last with the
    ``add_event_fields`` of the first event that brought each value (only when
    add_event_fields is set). Groups come in sorted order. At the end of a run the last,
    partial interval is summarised too.

    An event without the source field, or whose ``group_by`` refers to a missing field or
    renders empty, is not counted (``missing_source``, ``no_group``). A value that is not
    text, a number, a boolean or null, that is longer than 4096 bytes as JSON, or that
    would exceed ``max_groups`` or ``max_values_per_group`` is tagged and not counted.

    In a fleet the facets are fleet-wide: every worker process adds what it saw to Redis
    about once a second, and about two seconds after an interval ends exactly one process
    emits its summaries (hosts' clocks must agree to within a second). The limits apply to
    what a process holds between hand-overs and to the summary. If Redis does not answer,
    a process keeps what it saw (within the limits) and adds it later; when the whole fleet
    stops, its last interval is not reported.

    With ``redis_store`` (the id of a RedisStore node) the facets are kept in that server
    instead, even in embedded mode, so several pipelines (or fleets) that name it report
    together, once per interval; a KeyValueStore with ``backend: DictStore`` counts as
    unset.

    Differences from GambolPutty/LumberMill: ``redis_store`` is not needed in a fleet (it
    shares facets through its own Redis), ``facet_group`` and ``interval_start`` are new, values
    are compared as JSON (1 and 1.0 differ), and the limits are new.
    """

    aliases = ("modifier.Facet",)
    state = "shared"
    examples = [
        Example(
            options={
                "source_field": "url",
                "group_by": "$(remote_ip)",
                "add_event_fields": ["user_agent"],
                "interval": 60,
            },
            given=[
                {"url": "/a", "remote_ip": "10.0.0.1", "user_agent": "Eric"},
                {"url": "/b", "remote_ip": "10.0.0.1", "user_agent": "Graham"},
            ],
            expect=[
                {"url": "/a", "remote_ip": "10.0.0.1", "user_agent": "Eric"},
                {"url": "/b", "remote_ip": "10.0.0.1", "user_agent": "Graham"},
            ],
            note="Events pass on; after the minute a summary follows: {facet_field: url, "
            "facet_group: 10.0.0.1, facet_count: 2, facets: [/a, /b], other_event_fields: "
            "{/a: {user_agent: Eric}, /b: {user_agent: Graham}}} (event_type 'facet').",
        ),
    ]

    def setup(self) -> None:
        options = self.options
        self._source = field_path(options.source_field)
        self._kept = [field_path(name) for name in options.add_event_fields]
        self._seen: dict[tuple[int, str], Seen] = {}
        self._groups: dict[int, set[str]] = {}
        """Groups this process counted per interval (the max_groups bound)."""
        self._fleet: FleetFacets | None = None
        self._reported: int | None = None
        redis = self.context.redis
        store = options.redis_store
        if store is not None and store.settings is not None:
            redis = open_store(store.settings).redis or redis  # a DictStore: as if unset
        if redis is not None:
            self._fleet = FleetFacets(
                redis,
                self.node_id,
                self.context.process,
                options.interval,
                options.redis_ttl,
            )

    def _index(self, wall: float) -> int:
        return int(wall // self.options.interval)

    def process(self, events: Batch) -> Batch:
        now = time.time()
        index = self._index(now)
        for event in events:
            self._collect(event, index, now)
        return events

    def _collect(self, event: Event, index: int, now: float) -> None:
        value = self._source.get(event)
        if value is MISSING:
            self.stats.incr("missing_source")
            return
        group = self.options.group_by.try_render(event)
        if not group:
            self.stats.incr("no_group")
            return
        encoded = self._encoded(event, value)
        if encoded is None:
            return
        seen = self._seen.get((index, group))
        if seen is None:
            groups = self._groups.setdefault(index, set())
            if group not in groups and len(groups) >= self.options.max_groups:
                self.fail(event, f"more than max_groups ({self.options.max_groups}) groups")
                return
            groups.add(group)
            seen = self._seen[index, group] = Seen()
        if encoded in seen.values:
            return
        if len(seen.values) >= self.options.max_values_per_group:
            limit = self.options.max_values_per_group
            self.fail(event, f"group has more than max_values_per_group ({limit}) values")
            return
        seen.values[encoded] = (now, self._fields_of(event))

    def _encoded(self, event: Event, value: Any) -> bytes | None:
        if not isinstance(value, SCALARS):
            kind = type(value).__name__
            self.fail(event, f"{self._source.dotted!r} is a {kind}, not text, a number or null")
            return None
        try:
            encoded = orjson.dumps(value)
        except orjson.JSONEncodeError as error:  # a lone surrogate, an int beyond 64 bits
            self.fail(event, f"{self._source.dotted!r} cannot be kept: {error}")
            return None
        if len(encoded) > MAX_VALUE_BYTES:
            self.fail(event, f"{self._source.dotted!r} is longer than {MAX_VALUE_BYTES} bytes")
            return None
        return encoded

    def _fields_of(self, event: Event) -> dict[str, Any]:
        """The add_event_fields of ``event``, as JSON would carry them (so that one process
        and a fleet give the same summary)."""
        kept = {
            path.dotted: found for path in self._kept if (found := path.get(event)) is not MISSING
        }
        if not kept:
            return {}
        try:
            loaded: dict[str, Any] = orjson.loads(orjson.dumps(kept, default=str))
        except orjson.JSONEncodeError as error:
            self.fail(event, f"add_event_fields cannot be kept: {error}")
            return {}
        return loaded

    def tick(self, now: float) -> Batch:
        wall = time.time()
        if self._fleet is None:
            current = self._index(wall)
            return self._emit_local(lambda index: index < current)
        return self._tick_fleet(self._fleet, wall)

    def flush(self) -> Batch:
        if self._fleet is None:
            return self._emit_local(lambda _index: True)
        self._hand_over(self._fleet)
        return []

    def close(self) -> None:
        if self._fleet is not None:
            self._hand_over(self._fleet)
        if self._seen:
            self.log.warning(
                "%s: %d groups' facets could not be reported.", self.label, len(self._seen)
            )

    def _emit_local(self, due: Callable[[int], bool]) -> Batch:
        summaries: Batch = []
        for index in sorted({index for index, _group in self._seen if due(index)}):
            groups = sorted(group for at, group in self._seen if at == index)
            for group in groups:
                seen = self._seen.pop((index, group))
                values = [(orjson.loads(raw), kept) for raw, (_, kept) in seen.values.items()]
                summaries.append(self._summary(index, group, values))
            self._groups.pop(index, None)
        return summaries

    def _hand_over(self, fleet: FleetFacets) -> bool:
        """Add what this process saw to Redis; keep it for the next try if Redis fails."""
        if not self._seen:
            return True
        try:
            fleet.add(self._seen)
        except RedisError as error:
            self.warn_limited("redis", "cannot add facets to Redis (%s); trying again.", error)
            return False
        self._seen.clear()
        return True

    def _tick_fleet(self, fleet: FleetFacets, wall: float) -> Batch:
        self._hand_over(fleet)
        current = self._index(wall)
        for index in [index for index in self._groups if index < current]:
            del self._groups[index]
        last_due = self._index(wall - GRACE_SECS) - 1
        if self._reported is None:
            self._reported = last_due - 1
        summaries: Batch = []
        options = self.options
        for index in range(max(self._reported + 1, last_due - CATCH_UP + 1), last_due + 1):
            try:
                won = fleet.claim(index, options.max_groups, options.max_values_per_group)
            except RedisError as error:
                self.warn_limited("redis", "cannot read facets from Redis (%s).", error)
                break
            self._reported = index
            summaries.extend(self._summary(index, group, values) for group, values in won or [])
        return summaries

    def _summary(self, index: int, group: str, items: list[tuple[Any, dict[str, Any]]]) -> Event:
        event = new_event("", self.name)
        event.update(
            {
                "facet_field": self.options.source_field,
                "facet_group": group,
                "interval_start": index * self.options.interval,
                "facet_count": len(items),
                "facets": [value for value, _kept in items],
            }
        )
        if self._kept:
            event["other_event_fields"] = {str(value): kept for value, kept in items if kept}
        set_event_type(event, FACET_TYPE)
        return event
