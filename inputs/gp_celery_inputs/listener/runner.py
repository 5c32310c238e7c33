"""Shared by every input: batching, the input tasks, end of input and signals.

Inputs call ``emit(events)``; a ``Batcher`` per input hands full batches to ``deliver``
(the embedded pipeline, or a broker publisher) and flushes partial ones when they are
``batch_ms`` old. ``InputRunner`` runs the inputs until they end or SIGINT/SIGTERM arrives,
then stops reading and flushes every pending batch.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

from gp_celery.event import DATA, Batch
from gp_celery.modules.base import Input

log = logging.getLogger(__name__)

Deliver = Callable[[str, Batch], Awaitable[None]]
"""Receives (input node id, batch); awaiting it is backpressure."""
Tick = Callable[[float], Awaitable[None]]


def payload_sizes(events: Batch) -> list[int]:
    """Each event's weight for the byte cap: its payload (metadata is small and bounded)."""
    return [
        len(data) if isinstance(data := event.get(DATA), (str, bytes, bytearray)) else 64
        for event in events
    ]


class Batcher:
    """Collects events from one input; never holds more than one partial batch.

    A batch ends at ``batch_size`` events, or (with ``batch_bytes``, set for the broker so
    that one message stays small whatever a client sends) once its payloads reach that many
    bytes, whichever comes first; at least one event always goes.
    """

    def __init__(
        self,
        node_id: str,
        deliver: Deliver,
        batch_size: int,
        batch_ms: int,
        batch_bytes: int | None = None,
    ) -> None:
        self.node_id = node_id
        self.deliver = deliver
        self.batch_size = batch_size
        self.batch_bytes = batch_bytes
        self.max_age = batch_ms / 1000
        self.pending: Batch = []
        self.sizes: list[int] = []
        """With batch_bytes: the payload size of each pending event."""
        self.pending_bytes = 0
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
        if self.batch_bytes is not None:
            sizes = payload_sizes(events)
            self.sizes.extend(sizes)
            self.pending_bytes += sum(sizes)
        await self._deliver(full_only=True)

    async def flush_if_old(self, now: float) -> None:
        if self.pending and now - self.oldest >= self.max_age and not self._lock.locked():
            await self.flush()

    async def flush(self) -> None:
        """Deliver everything pending now (timer, end of input, shutdown)."""
        await self._deliver(full_only=False)

    def _full(self) -> bool:
        cap = self.batch_bytes
        return len(self.pending) >= self.batch_size or (
            cap is not None and self.pending_bytes >= cap
        )

    def _cut(self) -> tuple[int, int]:
        """How many pending events make the next batch, and their payload bytes."""
        size, cap = min(self.batch_size, len(self.pending)), self.batch_bytes
        if cap is None:
            return size, 0
        running = list(itertools.accumulate(self.sizes[:size]))
        count = min(bisect.bisect_left(running, cap) + 1, size)
        return count, running[count - 1]

    async def _deliver(self, full_only: bool) -> None:
        """One delivery at a time: the timer's flush must not overtake (or merge with) a
        batch that emit() is still delivering."""
        async with self._lock:
            while self.pending and (not full_only or self._full()):
                cut, cut_bytes = self._cut()
                batch, self.pending = self.pending[:cut], self.pending[cut:]
                if self.batch_bytes is not None:
                    del self.sizes[:cut]
                    self.pending_bytes -= cut_bytes
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
        batch_bytes: int | None = None,
    ) -> None:
        self.inputs = inputs
        self.batchers = {
            node_id: Batcher(node_id, deliver, batch_size, batch_ms, batch_bytes)
            for node_id in inputs
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
