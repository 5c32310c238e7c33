"""The runtime graph: module nodes built once, chunks and batches run through them, ticks.

Within a batch every node runs once, in topological order, over all events that reached it,
so the per-event cost is the modules' own work, not dispatch. A pipeline may hold only some
stages' nodes (a worker builds the stages of the queues it consumes); events for a node it
does not hold, or for a node of another stage, come back as ``Crossing`` for a new task.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gp_celery.broker.letters import FileLetters, LetterBox, failed_letters
from gp_celery.config.stages import DEFAULT_QUEUE
from gp_celery.event import Batch
from gp_celery.framing import Chunk
from gp_celery.framing.decode import decode_batches
from gp_celery.modules.base import Input, ModuleContext, Sink
from gp_celery.pipeline.node import Node, build_node
from gp_celery.pipeline.sink_writer import SinkWriter

if TYPE_CHECKING:
    from gp_celery.config import NodeSpec, PipelineConfig

log = logging.getLogger(__name__)


Crossing = dict[str, Batch]
"""Events bound for nodes of another stage, by node id."""


TICK_SECS = 1.0
"""How often modules get their periodic turn (stats, file syncs, idle files)."""


class PlannedModuleError(RuntimeError):
    """The config uses modules that are not built yet; ``check`` lists them too."""


def refuse_planned(config: PipelineConfig) -> None:
    """Raise PlannedModuleError naming the modules of ``config`` that are not built yet."""
    if config.planned:
        names = ", ".join(sorted({node.type_name for node in config.planned}))
        raise PlannedModuleError(f"{config.file}: these modules are not built yet: {names}")


class Pipeline:
    """The nodes of a config (all, or some stages'), wired, set up and ready to run."""

    def __init__(
        self,
        config: PipelineConfig,
        nodes: Sequence[NodeSpec] | None = None,
        *,
        letters: LetterBox | None = None,
        context: ModuleContext | None = None,
        with_inputs: bool = True,
        stop_on_closed_output: bool = False,
    ) -> None:
        refuse_planned(config)
        self.config = config
        self.letters = letters or FileLetters(config.settings.dead_letter_file)
        self.stop_on_closed_output = stop_on_closed_output
        self.nodes: dict[str, Node] = {
            spec.id: build_node(config, spec, context, with_input=with_inputs)
            for spec in (config.order if nodes is None else nodes)
        }
        self.order = list(self.nodes.values())
        self.writers = {node.id: self._writer(node) for node in self.order if node.is_sink}
        self.batch_size = config.settings.batch_size
        self._last_tick = time.monotonic()

    def _writer(self, node: Node) -> SinkWriter:
        settings = self.config.settings
        assert isinstance(node.module, Sink)
        stages = self.config.stages.get(node.id) or (DEFAULT_QUEUE,)
        digest = self.config.digests.get(stages[0], "")

        def dead_letter(node_id: str, events: Batch, attempts: int) -> None:
            self.letters.send(failed_letters(node_id, events, attempts, digest))

        return SinkWriter(
            node.module,
            settings.sink_retries,
            settings.sink_retry_base_secs,
            dead_letter,
            stop_on_closed_output=self.stop_on_closed_output,
            max_delay=settings.sink_retry_max_secs,
        )

    @property
    def inputs(self) -> list[Node]:
        return [node for node in self.order if node.is_input]

    def input_modules(self) -> dict[str, Input[Any]]:
        return {node.id: node.module for node in self.inputs if isinstance(node.module, Input)}

    def run_chunk(self, chunk: Chunk, stage: str | None = None) -> Crossing:
        """Turn a chunk's records into events (counted at its input node) and run them,
        ``batch_size`` events at a time, through everything downstream."""
        counters = self.nodes[chunk.node].counters
        crossing: Crossing = {}
        for batch in decode_batches(chunk, self.batch_size):
            counters.failed += batch.tagged
            for node_id, crossed in self.run_batch(chunk.node, batch.events, stage).items():
                crossing.setdefault(node_id, []).extend(crossed)
        return crossing

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
        for node_id, batch in inbox.items():  # nodes this pipeline does not hold
            crossing.setdefault(node_id, []).extend(batch)
        return crossing

    def _run_node(self, node: Node, events: Batch, inbox: dict[str, Batch]) -> None:
        counters = node.counters
        counters.events_in += len(events)
        passing, bypass = node.split_by_filter(events)
        counters.bypassed += len(bypass)
        if node.is_sink:
            written, dead = self.writers[node.id].write(passing) if passing else (0, 0)
            counters.events_out += written
            counters.dead_lettered += dead
            counters.failed += dead
            counters.dropped += len(bypass)
            return
        handled = node.run_module(passing) if passing else passing
        if len(handled) < len(passing):
            counters.dropped += len(passing) - len(handled)
        else:
            counters.made += len(handled) - len(passing)
        self._send_on(node, handled, bypass, inbox)

    @staticmethod
    def _send_on(node: Node, handled: Batch, bypass: Batch, inbox: dict[str, Batch]) -> None:
        """Route what a node handled (and what bypassed it); count what went on, what no
        receiver took (dropped) and, at the end of a branch, what is done."""
        counters = node.counters
        if not node.routes:  # the end of a branch: the events are done, not lost
            counters.events_out += len(handled) + len(bypass)
            return
        sent = node.route(handled, True, inbox) + node.route(bypass, False, inbox)
        counters.events_out += sent
        counters.dropped += len(handled) + len(bypass) - sent

    def tick_if_due(self, now: float, stage: str | None = None) -> Crossing:
        """``tick`` at most once every TICK_SECS; callers may ask as often as they like."""
        if now - self._last_tick < TICK_SECS:
            return {}
        self._last_tick = now
        return self.tick(now, stage)

    def tick(self, now: float, stage: str | None = None, *, final: bool = False) -> Crossing:
        """Give every module its periodic turn; events a tick makes go to its receivers.

        ``final`` (the run ends): each module also flushes what it holds, in topological
        order, so what one flushes reaches the next before that one flushes."""
        crossing: Crossing = {}
        for node in self.order:
            node.report_filter_errors()
            if node.module is None:
                continue
            try:
                made = node.module.tick(now)
                if final:
                    made = [*made, *node.module.flush()]
            except Exception:  # noqa: BLE001 - a timer bug must not stop the pipeline
                node.log_traceback(f"{node.label}: tick() raised")
                continue
            if made:
                inbox: dict[str, Batch] = {}
                node.counters.made += len(made)
                self._send_on(node, made, [], inbox)
                for target_id, batch in self._run_inbox(inbox, stage).items():
                    crossing.setdefault(target_id, []).extend(batch)
        return crossing

    def reopen(self) -> None:
        """Reopen every file modules hold (SIGHUP, after logrotate moved them)."""
        for node in self.order:
            if node.module is not None:
                node.module.reopen()

    def close(self) -> None:
        """Close modules in topological order, so sinks flush after what feeds them."""
        for node in self.order:
            if node.module is None:
                continue
            try:
                node.module.close()
            except Exception:  # noqa: BLE001 - close the others all the same
                node.log_traceback(f"{node.label}: close() raised")

    def counters(self) -> dict[str, dict[str, int]]:
        """Per node: the runner's counters, then the module's own (``module.stats``, e.g.
        the datagrams the kernel dropped for an input)."""
        return {node.id: _node_counts(node) for node in self.order}


def _node_counts(node: Node) -> dict[str, int]:
    counts = node.counters.as_dict()
    own = node.module.stats.counts if node.module is not None else {}
    return counts | {name: value for name, value in own.items() if name not in counts}
