"""Embedded mode: inputs and the whole pipeline in one process, no broker, no Celery.

Inputs run as asyncio tasks; their batches run through the pipeline synchronously in the
event loop, so a slow pipeline stops the inputs from reading (natural backpressure). The
run ends when every input has ended, or when one that ends the pipeline (StdIn at EOF, as in
GambolPutty) has, or on SIGINT/SIGTERM; pending batches are flushed and sinks closed first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from typing import Any

from gp_celery.config import PipelineConfig
from gp_celery.event import Batch
from gp_celery.modules.base import Input
from gp_celery.pipeline import Pipeline
from gp_celery.pipeline.node import Node
from inputs.listener import Batcher

log = logging.getLogger(__name__)

TICK_SECS = 1.0


class EmbeddedRunner:
    def __init__(self, config: PipelineConfig) -> None:
        self.config = config
        self.pipeline = Pipeline(config)
        self.batchers: dict[str, Batcher] = {}
        self._stop = asyncio.Event()
        self._last_tick = 0.0

    def _batcher(self, node: Node) -> Batcher:
        pipeline = self.pipeline

        async def deliver(batch: Batch) -> None:
            pipeline.run_batch(node.id, batch)

        settings = self.config.settings
        return Batcher(deliver, settings.batch_size, settings.batch_ms)

    async def run(self) -> None:
        """Run until the inputs end or a signal arrives; always flush and close."""
        self.pipeline.setup()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, self.request_stop, signum)
        tasks: dict[asyncio.Task[None], Node] = {}
        for node in self.pipeline.inputs:
            batcher = self.batchers[node.id] = self._batcher(node)
            assert isinstance(node.module, Input)
            task = asyncio.create_task(node.module.serve(batcher.emit), name=node.id)
            tasks[task] = node
        ticker = asyncio.create_task(self._tick_forever())
        try:
            await self._wait_for_end(tasks)
        finally:
            ticker.cancel()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, ticker, return_exceptions=True)
            for batcher in self.batchers.values():
                await batcher.flush()
            self.pipeline.tick(time.monotonic())
            self.pipeline.close()
            for signum in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(signum)

    def request_stop(self, signum: int | None = None) -> None:
        if signum is not None:
            log.info("Received %s; flushing and stopping.", signal.Signals(signum).name)
        self._stop.set()

    async def _wait_for_end(self, tasks: dict[asyncio.Task[None], Node]) -> None:
        running = set(tasks)
        stop: asyncio.Task[Any] = asyncio.create_task(self._stop.wait())
        try:
            while running:
                waiting: set[asyncio.Task[Any]] = {*running, stop}
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if stop in done:
                    return
                for task in done:
                    running.discard(task)
                    node = tasks[task]
                    error = task.exception()
                    if error is not None:
                        raise InputFailedError(f"{node.module.label}: {error}") from error
                    log.info("%s: input ended.", node.module.label)
                    if getattr(node.module, "ends_pipeline", False):
                        return
        finally:
            stop.cancel()

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECS / 10)
            now = time.monotonic()
            for batcher in self.batchers.values():
                await batcher.flush_if_old(now)
            if now - self._last_tick >= TICK_SECS:
                self._last_tick = now
                self.pipeline.tick(now)


class InputFailedError(RuntimeError):
    """An input stopped with an error (e.g. its port is taken)."""


def run_embedded(config: PipelineConfig) -> EmbeddedRunner:
    """Run a config in this process until its inputs end; return the runner for its stats."""
    runner = EmbeddedRunner(config)
    asyncio.run(runner.run())
    return runner
