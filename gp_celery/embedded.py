"""Embedded mode: inputs and the whole pipeline in one process, no broker, no Celery.

Inputs run as asyncio tasks; their batches run through the pipeline synchronously in the
event loop, so a slow pipeline stops the inputs from reading (natural backpressure). The
run ends when every input has ended, or when one that ends the pipeline (StdIn at EOF, as in
GambolPutty) has, or on SIGINT/SIGTERM; pending batches are flushed and sinks closed first.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

from gp_celery.config import PipelineConfig
from gp_celery.event import Batch
from gp_celery.modules.base import Input
from gp_celery.pipeline import Pipeline
from gp_celery_inputs.listener.runner import InputRunner

log = logging.getLogger(__name__)


class EmbeddedRunner:
    def __init__(self, config: PipelineConfig) -> None:
        self.config = config
        self.pipeline = Pipeline(config)

    async def _deliver(self, node_id: str, batch: Batch) -> None:
        self.pipeline.run_batch(node_id, batch)

    async def _tick(self, now: float) -> None:
        self.pipeline.tick_if_due(now)

    async def run(self) -> None:
        """Run until the inputs end or a signal arrives; always flush and close."""
        self.pipeline.setup()
        # Start-up objects (modules, compiled options) live until exit: keep the garbage
        # collector from re-scanning them while millions of short-lived events pass.
        gc.collect()
        gc.freeze()
        settings = self.config.settings
        inputs = {
            node.id: node.module for node in self.pipeline.inputs if isinstance(node.module, Input)
        }
        runner = InputRunner(
            inputs, self._deliver, settings.batch_size, settings.batch_ms, on_tick=self._tick
        )
        try:
            await runner.run()
        finally:
            self.pipeline.tick(time.monotonic())
            self.pipeline.close()
            self.log_counters()

    def log_counters(self) -> None:
        """What every node did, once at the end: the run's account of every event."""
        for node_id, counts in self.pipeline.counters().items():
            shown = ", ".join(f"{name} {value}" for name, value in counts.items() if value)
            log.info("%s: %s.", node_id, shown or "no events")


def run_embedded(config: PipelineConfig) -> EmbeddedRunner:
    """Run a config in this process until its inputs end; return the runner for its stats."""
    runner = EmbeddedRunner(config)
    asyncio.run(runner.run())
    return runner
