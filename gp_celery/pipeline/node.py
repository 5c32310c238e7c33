"""A runtime node: a module instance plus its filters, node keys, routes and counters."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from gp_celery import expressions
from gp_celery.config import NodeSpec
from gp_celery.event import (
    MISSING,
    Batch,
    Event,
    add_error,
    copy_event,
    field_path,
    set_event_type,
)
from gp_celery.modules.base import Module, Sink
from gp_celery.pipeline.counters import NodeCounters

log = logging.getLogger(__name__)


@dataclass
class Route:
    target: Node
    filter: expressions.Filter | None


@dataclass
class Node:
    spec: NodeSpec
    module: Module[Any]
    routes: list[Route] = field(default_factory=list)
    counters: NodeCounters = field(default_factory=NodeCounters)
    _last_traceback: float = -1e9
    _filter_errors_seen: dict[str, int] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def is_sink(self) -> bool:
        return isinstance(self.module, Sink)

    def split_by_filter(self, events: Batch) -> tuple[Batch, Batch]:
        """(events the module handles, events that bypass it unchanged)."""
        flt = self.spec.filter
        if flt is None:
            return events, []
        passing: Batch = []
        bypass: Batch = []
        for event in events:
            (passing if flt(event) else bypass).append(event)
        return passing, bypass

    def run_module(self, events: Batch) -> Batch:
        """The module's process(); a raising module tags the batch and passes it on."""
        before = self.module.failed
        try:
            out = self.module.process(events)
        except Exception as error:  # noqa: BLE001 - a module bug must not stop the pipeline
            reason = f"{type(error).__name__}: {error}"
            for event in events:
                add_error(event, self.id, reason)
            self.counters.failed += len(events)
            self.log_traceback(
                f"{self.module.label}: process() raised on a batch of "
                f"{len(events)} events; they are tagged and passed on"
            )
            return events
        self.counters.failed += self.module.failed - before
        return out

    def filters(self) -> list[tuple[str, expressions.Filter]]:
        """(where, filter) for the input filter and every output filter."""
        found = [("filter", self.spec.filter)] if self.spec.filter else []
        found += [(f"output filter to {r.target.id}", r.filter) for r in self.routes if r.filter]
        return found

    def report_filter_errors(self) -> None:
        """One warning per filter whose evaluations failed since the last report."""
        for where, flt in self.filters():
            new = flt.errors - self._filter_errors_seen.get(where, 0)
            if new > 0:
                self._filter_errors_seen[where] = flt.errors
                consequence = (
                    "the events bypassed the module"
                    if where == "filter"
                    else "the events were not sent there"
                )
                log.warning(
                    "%s: %s %r failed on %d events (last: %s); %s.",
                    self.module.label,
                    where,
                    flt.source,
                    new,
                    flt.last_error,
                    consequence,
                )

    def log_traceback(self, message: str) -> None:
        """One traceback per node per minute; the rest is counted, not logged."""
        now = time.monotonic()
        if now - self._last_traceback > 60:
            self._last_traceback = now
            log.exception(message)
        else:
            log.error(message)

    def apply_node_keys(self, event: Event) -> None:
        """add_fields, then delete_fields, then event_type (spec/CORE.md 1.3)."""
        spec = self.spec
        for key_template, value_template in spec.add_fields:
            value = value_template.value(event)
            if value is not MISSING:  # '$(absent)' adds nothing rather than a placeholder
                field_path(key_template.render(event)).set(event, value)
        for path in spec.delete_fields:
            path.delete(event)
        if spec.event_type is not None:
            set_event_type(event, spec.event_type.render(event))

    @property
    def has_node_keys(self) -> bool:
        spec = self.spec
        return bool(spec.add_fields or spec.delete_fields or spec.event_type is not None)

    def route(self, events: Batch, handled: bool, inbox: dict[str, Batch]) -> int:
        """Send events to receivers. Node keys apply only to handled events that go
        somewhere; an event for several receivers is copied for the second and later."""
        routes = self.routes
        if not routes or not events:
            return 0
        apply = handled and self.has_node_keys
        if len(routes) == 1 and routes[0].filter is None:
            if apply:
                for event in events:
                    self.apply_node_keys(event)
            inbox.setdefault(routes[0].target.id, []).extend(events)
            return len(events)
        sent = 0
        for event in events:
            targets = [r.target for r in routes if r.filter is None or r.filter(event)]
            if not targets:
                continue
            sent += 1
            if apply:
                self.apply_node_keys(event)
            inbox.setdefault(targets[0].id, []).append(event)
            for branch, target in enumerate(targets[1:], start=1):
                inbox.setdefault(target.id, []).append(copy_event(event, branch))
        return sent
