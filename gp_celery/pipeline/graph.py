"""The runtime graph: builds module instances, runs batches and periodic ticks through it."""

from __future__ import annotations

import logging
import time
from typing import Any

from gp_celery.config import PipelineConfig
from gp_celery.event import Batch
from gp_celery.modules.base import Input, Module, Sink
from gp_celery.pipeline.dead_letters import DeadLetterFile
from gp_celery.pipeline.node import Node, Route
from gp_celery.pipeline.sink_writer import DeadLetter, SinkWriter

log = logging.getLogger(__name__)


Crossing = dict[str, Batch]
"""Events bound for nodes of another stage, by node id."""


TICK_SECS = 1.0
"""How often modules get their periodic turn (stats, file syncs)."""


class PlannedModuleError(RuntimeError):
    """The config uses modules that are not built yet; ``check`` lists them too."""


def refuse_planned(config: PipelineConfig) -> None:
    """Raise PlannedModuleError naming the modules of ``config`` that are not built yet."""
    if config.planned:
        names = ", ".join(sorted({node.type_name for node in config.planned}))
        raise PlannedModuleError(f"{config.file}: these modules are not built yet: {names}")


class Pipeline:
    """All nodes of a config, wired; ``run_batch`` takes a batch from an input onwards.

    Within a batch every node runs once, in topological order, over all events that
    reached it, so the per-event cost is the modules' own work, not dispatch.
    """

    def __init__(
        self,
        config: PipelineConfig,
        dead_letter: DeadLetter | None = None,
        collect: Batch | None = None,
    ) -> None:
        refuse_planned(config)
        self.config = config
        self.dead_letter = dead_letter or DeadLetterFile(config.settings.dead_letter_file)
        self.nodes: dict[str, Node] = {}
        for spec in config.order:
            assert spec.module is not None
            assert spec.options is not None
            module: Module[Any] = spec.module(spec.options, spec.id)
            self.nodes[spec.id] = Node(spec, module)
        for node in self.nodes.values():
            node.routes = [Route(self.nodes[r.target], r.filter) for r in node.spec.receivers or []]
        self.order = list(self.nodes.values())
        self.writers = {node.id: self._writer(node) for node in self.order if node.is_sink}
        self._last_tick = time.monotonic()
        self.collect = collect
        """When a list: every event a sink took or a branch ended with lands here too."""

    def _writer(self, node: Node) -> SinkWriter:
        settings = self.config.settings
        assert isinstance(node.module, Sink)
        return SinkWriter(
            node.module, settings.sink_retries, settings.sink_retry_base_secs, self.dead_letter
        )

    @property
    def inputs(self) -> list[Node]:
        return [node for node in self.order if isinstance(node.module, Input)]

    def setup(self, include_inputs: bool = True) -> None:
        """Run every module's setup() once, in topological order."""
        for node in self.order:
            if include_inputs or not isinstance(node.module, Input):
                node.module.setup()

    def run_batch(self, entry: str, events: Batch, stage: str | None = None) -> Crossing:
        """Run events that entered at node ``entry`` through everything downstream.

        With ``stage`` (a queue name, distributed mode) events for a node on another queue
        are not run but returned, by node id, for a new task on that node's queue.
        """
        return self._run_inbox({entry: events}, stage, entry)

    def _run_inbox(self, inbox: dict[str, Batch], stage: str | None, entry: str = "") -> Crossing:
        crossing: Crossing = {}
        for node in self.order:
            batch = inbox.pop(node.id, None)
            if batch:
                queue = node.spec.queue
                if stage is not None and node.id != entry and queue and queue != stage:
                    crossing.setdefault(node.id, []).extend(batch)
                else:
                    self._run_node(node, batch, inbox)
            if not inbox:
                break
        return crossing

    def _run_node(self, node: Node, events: Batch, inbox: dict[str, Batch]) -> None:
        counters = node.counters
        counters.events_in += len(events)
        passing, bypass = node.split_by_filter(events)
        counters.bypassed += len(bypass)
        if node.is_sink:
            if self.collect is not None:
                self.collect.extend(passing)
            written, dead = self.writers[node.id].write(passing) if passing else (0, 0)
            counters.events_out += written
            counters.dead_lettered += dead
            counters.failed += dead
            counters.dropped += len(bypass)
            return
        handled = (
            node.run_module(passing) if passing and not isinstance(node.module, Input) else passing
        )
        if len(handled) < len(passing):
            counters.dropped += len(passing) - len(handled)
        sent = node.route(handled, True, inbox) + node.route(bypass, False, inbox)
        if node.routes:
            counters.events_out += sent
            counters.dropped += len(handled) + len(bypass) - sent
        else:  # the end of a branch: the events are done, not lost
            counters.events_out += len(handled) + len(bypass)
            if self.collect is not None:
                self.collect.extend(handled + bypass)

    def tick_if_due(self, now: float, stage: str | None = None) -> Crossing:
        """``tick`` at most once every TICK_SECS; callers may ask as often as they like."""
        if now - self._last_tick < TICK_SECS:
            return {}
        self._last_tick = now
        return self.tick(now, stage)

    def tick(self, now: float, stage: str | None = None) -> Crossing:
        """Give every module its periodic turn; events a tick makes go to its receivers."""
        crossing: Crossing = {}
        for node in self.order:
            node.report_filter_errors()
            try:
                made = node.module.tick(now)
            except Exception:  # noqa: BLE001 - a timer bug must not stop the pipeline
                node.log_traceback(f"{node.module.label}: tick() raised")
                continue
            if made:
                inbox: dict[str, Batch] = {}
                node.counters.events_out += node.route(made, True, inbox)
                for target_id, batch in self._run_inbox(inbox, stage).items():
                    crossing.setdefault(target_id, []).extend(batch)
        return crossing

    def close(self) -> None:
        """Close modules in topological order, so sinks flush after what feeds them."""
        for node in self.order:
            try:
                node.module.close()
            except Exception:  # noqa: BLE001 - close the others all the same
                node.log_traceback(f"{node.module.label}: close() raised")

    def counters(self) -> dict[str, dict[str, int]]:
        return {node.id: node.counters.as_dict() for node in self.order}
