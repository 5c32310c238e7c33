"""Shared by every input: batching, the input tasks, end of input and signals.

Inputs call ``emit(events)``; a ``Batcher`` per input hands full batches to ``deliver``
(the embedded pipeline, or a broker publisher) and flushes partial ones when they are
``batch_ms`` old. ``InputRunner`` runs the inputs until they end or SIGINT/SIGTERM arrives,
then stops reading and flushes every pending batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

from gp_celery.event import Batch
from gp_celery.modules.base import Input

log = logging.getLogger(__name__)

Deliver = Callable[[str, Batch], Awaitable[None]]
"""Receives (input node id, batch); awaiting it is backpressure."""
Tick = Callable[[float], Awaitable[None]]


class Batcher:
    """Collects events from one input; never holds more than one partial batch."""

    def __init__(self, node_id: str, deliver: Deliver, batch_size: int, batch_ms: int) -> None:
        self.node_id = node_id
        self.deliver = deliver
        self.batch_size = batch_size
        self.max_age = batch_ms / 1000
        self.pending: Batch = []
        self.oldest = 0.0
        self.emitted = 0
        self._lock = asyncio.Lock()

    async def emit(self, events: Batch) -> None:
        """Add events; full batches are delivered before this returns (backpressure)."""
        if not events:
            return
        self.emitted += len(events)
        if not self.pending:
            self.oldest = time.monotonic()
        self.pending.extend(events)
        await self._deliver(full_only=True)

    async def flush_if_old(self, now: float) -> None:
        if self.pending and now - self.oldest >= self.max_age and not self._lock.locked():
            await self.flush()

    async def flush(self) -> None:
        """Deliver everything pending now (timer, end of input, shutdown)."""
        await self._deliver(full_only=False)

    async def _deliver(self, full_only: bool) -> None:
        """One delivery at a time, never more than batch_size events: the timer's flush
        must not overtake (or merge with) a batch that emit() is still delivering."""
        size = self.batch_size
        async with self._lock:
            while self.pending and (len(self.pending) >= size or not full_only):
                batch, self.pending = self.pending[:size], self.pending[size:]
                await self.deliver(self.node_id, batch)
                self.oldest = time.monotonic()


class InputFailedError(RuntimeError):
    """An input stopped with an error (e.g. its port is taken)."""


class InputRunner:
    """Runs inputs until they end (or one that ``ends_pipeline`` does) or a signal arrives."""

    TICK_SECS = 0.1

    def __init__(
        self,
        inputs: dict[str, Input[Any]],
        deliver: Deliver,
        batch_size: int,
        batch_ms: int,
        *,
        on_tick: Tick | None = None,
        on_stop: Callable[[], None] | None = None,
    ) -> None:
        self.inputs = inputs
        self.batchers = {
            node_id: Batcher(node_id, deliver, batch_size, batch_ms) for node_id in inputs
        }
        self.on_tick = on_tick
        self.on_stop = on_stop
        self._stop = asyncio.Event()

    def request_stop(self, signum: int | None = None) -> None:
        """First signal: stop reading and flush. Second: leave now (as GambolPutty's second
        Ctrl-C did), saying how many events were not delivered."""
        if signum is not None and self._stop.is_set():
            pending = sum(len(batcher.pending) for batcher in self.batchers.values())
            log.error(
                "Received %s again; exiting now. %d events not yet delivered are lost.",
                signal.Signals(signum).name,
                pending,
            )
            os._exit(1)
        if signum is not None:
            log.info("Received %s; stopping the inputs and flushing.", signal.Signals(signum).name)
        if self.on_stop is not None:
            self.on_stop()
        self._stop.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, self.request_stop, signum)
        tasks = {
            asyncio.create_task(module.serve(self.batchers[node_id].emit), name=node_id): module
            for node_id, module in self.inputs.items()
        }
        ticker = asyncio.create_task(self._tick_forever())
        try:
            await self._wait_for_end(tasks)
        finally:
            for task in (*tasks, ticker):
                task.cancel()
            await asyncio.gather(*tasks, ticker, return_exceptions=True)
            for batcher in self.batchers.values():
                await batcher.flush()
            for signum in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(signum)

    async def _wait_for_end(self, tasks: dict[asyncio.Task[None], Input[Any]]) -> None:
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
                    module = tasks[task]
                    error = task.exception()
                    if error is not None:
                        raise InputFailedError(f"{module.label}: {error}") from error
                    log.debug("%s: input ended.", module.label)
                    if module.ends_pipeline:
                        return
        finally:
            stop.cancel()

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.TICK_SECS)
            now = time.monotonic()
            for batcher in self.batchers.values():
                await batcher.flush_if_old(now)
            if self.on_tick is not None:
                await self.on_tick(now)
