"""A runtime node: a module instance plus its filters, node keys, routes and counters; and
``build_node``, the one factory that makes one (construct, place, set up)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gp_celery import expressions
from gp_celery.config.global_options import LEVELS
from gp_celery.event import (
    MISSING,
    Batch,
    Event,
    add_error,
    copy_event,
    field_path,
    set_event_type,
)
from gp_celery.modules.base import Input, Module, ModuleContext, Sink
from gp_celery.pipeline.counters import NodeCounters

if TYPE_CHECKING:
    from gp_celery.config import NodeSpec, PipelineConfig

log = logging.getLogger(__name__)


@dataclass
class Route:
    target: str
    """The receiving node's id."""
    filter: expressions.Filter | None


@dataclass
class Node:
    spec: NodeSpec
    module: Module[Any] | None
    """None for an input whose module runs elsewhere (a worker decodes its chunks)."""
    routes: list[Route] = field(default_factory=list)
    counters: NodeCounters = field(default_factory=NodeCounters)
    _last_traceback: float = -1e9
    _filter_errors_seen: dict[str, int] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def label(self) -> str:
        return self.spec.label

    @property
    def is_sink(self) -> bool:
        return isinstance(self.module, Sink)

    @property
    def is_input(self) -> bool:
        return self.spec.family == "input"

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
        module = self.module
        if module is None or isinstance(module, Input):
            return events
        before = module.failed
        try:
            out = module.process(events)
        except Exception as error:  # noqa: BLE001 - a module bug must not stop the pipeline
            reason = f"{type(error).__name__}: {error}"
            for event in events:
                add_error(event, self.id, reason)
            self.counters.failed += len(events)
            self.log_traceback(
                f"{self.label}: process() raised on a batch of "
                f"{len(events)} events; they are tagged and passed on"
            )
            return events
        self.counters.failed += module.failed - before
        return out

    def filters(self) -> list[tuple[str, expressions.Filter]]:
        """(where, filter) for the input filter and every output filter."""
        found = [("filter", self.spec.filter)] if self.spec.filter else []
        found += [(f"output filter to {r.target}", r.filter) for r in self.routes if r.filter]
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
                    self.label,
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
        """Send events to receivers; return how many went somewhere. Node keys apply only
        to handled events that go somewhere; an event for several receivers is copied for
        the second and later (counted in ``copies``)."""
        routes = self.routes
        if not routes or not events:
            return 0
        apply = handled and self.has_node_keys
        if len(routes) == 1 and routes[0].filter is None:
            if apply:
                for event in events:
                    self.apply_node_keys(event)
            inbox.setdefault(routes[0].target, []).extend(events)
            return len(events)
        sent = 0
        for event in events:
            targets = [r.target for r in routes if r.filter is None or r.filter(event)]
            if not targets:
                continue
            sent += 1
            if apply:
                self.apply_node_keys(event)
            inbox.setdefault(targets[0], []).append(event)
            for branch, target in enumerate(targets[1:], start=1):
                inbox.setdefault(target, []).append(copy_event(event, branch))
                self.counters.copies += 1
        return sent


def build_node(
    config: PipelineConfig,
    spec: NodeSpec,
    context: ModuleContext | None = None,
    *,
    with_input: bool = True,
    setup: bool = True,
) -> Node:
    """Construct a node's module, place it (its logger level, an input's framing, the
    context of the process it runs in) and run its setup(). Embedded mode, listeners,
    workers and ``gp_celery.testing`` all build nodes here.

    ``with_input=False`` leaves an input's module out: a worker only decodes its chunks.
    """
    if spec.module is None or spec.options is None:
        raise ValueError(f"{spec.label} is not built yet")
    node = Node(spec, None, [Route(r.target, r.filter) for r in spec.receivers or []])
    if spec.family == "input" and not with_input:
        return node
    module: Module[Any] = spec.module(spec.options, spec.id)
    module.context = context or ModuleContext()
    if spec.log_level:
        module.log.setLevel(LEVELS[spec.log_level])
    if isinstance(module, Input):
        from gp_celery.config.framing import framing_of

        module.framing = framing_of(config, spec, module.framing)
    if setup:
        module.setup()
    node.module = module
    return node
