"""Shared by every input: collect events into batches of ``batch_size`` or ``batch_ms``.

Inputs call ``emit(events)``; the batcher hands full batches to ``deliver`` (the embedded
pipeline, or later a broker publisher) and flushes partial ones when they grow old.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from gp_celery.event import Batch

Deliver = Callable[[Batch], Awaitable[None]]


class Batcher:
    """Collects events from one input; never holds more than one partial batch."""

    def __init__(self, deliver: Deliver, batch_size: int, batch_ms: int) -> None:
        self.deliver = deliver
        self.batch_size = batch_size
        self.max_age = batch_ms / 1000
        self.pending: Batch = []
        self.oldest = 0.0
        self.emitted = 0

    async def emit(self, events: Batch) -> None:
        """Add events; full batches are delivered before this returns (backpressure)."""
        if not events:
            return
        self.emitted += len(events)
        if not self.pending:
            self.oldest = time.monotonic()
        self.pending.extend(events)
        size = self.batch_size
        while len(self.pending) >= size:
            batch, self.pending = self.pending[:size], self.pending[size:]
            await self.deliver(batch)
            self.oldest = time.monotonic()

    async def flush_if_old(self, now: float) -> None:
        if self.pending and now - self.oldest >= self.max_age:
            await self.flush()

    async def flush(self) -> None:
        """Deliver the partial batch now (timer, end of input, shutdown)."""
        if self.pending:
            batch, self.pending = self.pending, []
            await self.deliver(batch)
