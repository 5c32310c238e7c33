"""Embedded mode: inputs and the whole pipeline in one process, no broker, no Celery.

Inputs run as asyncio tasks; their chunks are decoded and run through the pipeline
synchronously in the event loop, so a slow pipeline stops the inputs from reading (natural
backpressure). Chunks are decoded by the same code a worker uses, so both modes give the
same events. The run ends when every input has ended, or one that ends the pipeline has
(StdIn at EOF, as in GambolPutty), or on SIGINT/SIGTERM; pending chunks are run and sinks
closed first. SIGHUP reopens the files sinks write (for logrotate).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Final

from gp_celery.config import PipelineConfig
from gp_celery.framing import Chunk
from gp_celery.memory import settle_memory
from gp_celery.modules.base import Input, OutputClosedError
from gp_celery.pipeline import Pipeline
from gp_celery.stats.progress import ProgressLine
from gp_celery.stats.progress import wanted as progress_wanted
from gp_celery_inputs.listener.runner import InputRunner

log = logging.getLogger(__name__)

EMBEDDED_CHUNK_BYTES: Final = 64 << 10
"""A chunk's events still sit in the CPU cache while the pipeline works on them (chunks of
1 MiB ran p1 about 30% slower)."""


def embedded_chunk_bytes(module: Input[Any]) -> int:
    own = getattr(module.options, "chunk_bytes", None)
    return own if isinstance(own, int) else EMBEDDED_CHUNK_BYTES


class EmbeddedRunner:
    def __init__(self, config: PipelineConfig) -> None:
        self.config = config
        self.pipeline = Pipeline(config, stop_on_closed_output=True)
        self.output_closed = False
        """Standard output's reader went away (``| head``): the run stopped there."""
        self._runner: InputRunner | None = None
        self.progress = ProgressLine(config) if progress_wanted() else None
        """On a terminal: a live line while the run lasts, the node table at its end."""

    async def _deliver(self, chunk: Chunk) -> None:
        if self.output_closed:
            return  # nobody reads any more: stop, as `grep ... | head` does
        try:
            self.pipeline.run_chunk(chunk)
        except OutputClosedError:
            self.output_closed = True
            log.info("Standard output was closed by its reader; the run stops.")
            if self._runner is not None:
                self._runner.request_stop()

    async def _tick(self, now: float) -> None:
        self.pipeline.tick_if_due(now)
        if self.progress is not None and self.progress.due(now):
            self.progress.update(now, self.pipeline.counters())

    async def run(self) -> None:
        """Run until the inputs end or a signal arrives; always flush and close."""
        settle_memory()
        runner = self._runner = InputRunner(
            self.pipeline.input_modules(),
            self._deliver,
            embedded_chunk_bytes,
            self.config.settings.batch_ms,
            on_tick=self._tick,
            on_hangup=self.pipeline.reopen,
        )
        try:
            await runner.run()
        finally:
            self.pipeline.tick(time.monotonic(), final=True)
            self.pipeline.close()
            self.log_counters()
            if self.progress is not None:
                self.progress.finish(self.pipeline.counters())

    @property
    def dead_lettered(self) -> int:
        """Events sinks could not write in this run (they are in the dead-letter file)."""
        return sum(counts["dead_lettered"] for counts in self.pipeline.counters().values())

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
