"""Shared by every input, in both modes: collecting chunks, running the inputs, signals.

Inputs emit pieces of whole records; a ``Chunker`` per input collects them and hands a
chunk to ``deliver`` (embedded mode's pipeline, or the listener's publisher) once it holds
``chunk_bytes`` or its oldest piece is ``chunk_ms`` old. ``InputRunner`` runs the inputs
until they end or a signal stops them, then flushes every pending chunk.
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

from gp_celery.framing import Chunk, Piece
from gp_celery.framing.cut import count_records, records_in
from gp_celery.modules.base import Input

log = logging.getLogger(__name__)

Deliver = Callable[[Chunk], Awaitable[None]]
"""Receives a chunk; awaiting it is backpressure."""
Tick = Callable[[float], Awaitable[None]]


class Chunker:
    """Collects one input's pieces into chunks; never holds more than one pending chunk."""

    def __init__(self, module: Input[Any], deliver: Deliver, chunk_bytes: int, chunk_ms: int):
        self.module = module
        self.deliver = deliver
        self.chunk_bytes = chunk_bytes
        self.max_age = chunk_ms / 1000
        self.pending: list[Piece] = []
        self.pending_bytes = 0
        self.pending_marks: list[object] = []
        """Marks of pending pieces: passed to ``module.delivered`` once their chunk is."""
        self.oldest = 0.0
        self.delivering: Chunk | None = None
        """The chunk being delivered right now (for an honest count at a forced exit)."""
        self._lock = asyncio.Lock()

    async def emit(self, pieces: list[Piece], mark: object = None) -> None:
        """Add pieces; a full chunk is delivered before this returns (backpressure)."""
        if mark is not None:
            if not self.pending and not self.pending_marks:
                self.oldest = time.monotonic()
            self.pending_marks.append(mark)
        if not pieces:
            return
        if not self.pending:
            self.oldest = time.monotonic()
        self.pending += pieces
        self.pending_bytes += sum(len(piece.data) for piece in pieces)
        if self.pending_bytes >= self.chunk_bytes:
            await self.flush()

    async def flush_if_old(self, now: float) -> None:
        waiting = self.pending or self.pending_marks
        if waiting and now - self.oldest >= self.max_age and not self._lock.locked():
            await self.flush()

    async def flush(self) -> None:
        """Deliver what is pending now. One delivery at a time: a timer's flush must not
        overtake (or merge with) a chunk that emit() is still delivering."""
        async with self._lock:
            module = self.module
            marks, self.pending_marks = self.pending_marks, []
            if self.pending:
                chunk = Chunk(module.node_id, module.name, module.framing, self.pending)
                self.pending, self.pending_bytes = [], 0
                self.delivering = chunk
                try:
                    await self.deliver(chunk)
                finally:
                    self.delivering = None
            for mark in marks:
                await module.delivered(mark)

    def pending_records(self) -> int:
        """Records not yet handed to ``deliver``."""
        return sum(count_records(self.module.framing, piece) for piece in self.pending)


class InputFailedError(RuntimeError):
    """An input stopped with an error (e.g. its port is taken)."""


class InputRunner:
    """Runs inputs until they end (or one that ``ends_pipeline`` does) or a signal arrives.

    SIGINT/SIGTERM: stop reading, flush, return. The same signal again: leave at once
    (as GambolPutty's second Ctrl-C did), saying how many records are abandoned. SIGHUP:
    ``on_hangup`` (embedded mode reopens files, for logrotate).
    """

    TICK_SECS = 0.1

    def __init__(
        self,
        inputs: dict[str, Input[Any]],
        deliver: Deliver,
        chunk_bytes: Callable[[Input[Any]], int],
        chunk_ms: int,
        *,
        on_tick: Tick | None = None,
        on_stop: Callable[[], None] | None = None,
        on_hangup: Callable[[], None] | None = None,
        held: Callable[[], list[Chunk]] | None = None,
    ) -> None:
        self.inputs = inputs
        self.chunkers = {
            node_id: Chunker(module, deliver, chunk_bytes(module), chunk_ms)
            for node_id, module in inputs.items()
        }
        self.on_tick = on_tick
        self.on_stop = on_stop
        self.on_hangup = on_hangup
        self.held = held
        """Chunks the deliverer holds, not yet delivered (the publisher's, say)."""
        self._stop = asyncio.Event()

    def undelivered_records(self) -> int:
        """Records pending, being delivered or held undelivered: what a forced exit loses."""
        chunks = {id(chunk): chunk for chunk in (self.held() if self.held else [])}
        for chunker in self.chunkers.values():
            if chunker.delivering is not None:
                chunks[id(chunker.delivering)] = chunker.delivering
        held = sum(records_in(chunk) for chunk in chunks.values())
        return held + sum(chunker.pending_records() for chunker in self.chunkers.values())

    def request_stop(self, signum: int | None = None) -> None:
        if signum is not None and self._stop.is_set():
            log.error(
                "Received %s again; exiting now. %d records not yet delivered are lost.",
                signal.Signals(signum).name,
                self.undelivered_records(),
            )
            logging.shutdown()
            os._exit(1)
        if signum is not None:
            log.info("Received %s; stopping the inputs and flushing.", signal.Signals(signum).name)
        if self.on_stop is not None:
            self.on_stop()
        self._stop.set()

    def _hangup(self) -> None:
        if self.on_hangup is None:
            log.info("Received SIGHUP; there are no files to reopen here.")
            return
        log.info("Received SIGHUP; reopening files.")
        self.on_hangup()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        handlers: dict[int, Callable[[], None]] = {
            signal.SIGINT: lambda: self.request_stop(signal.SIGINT),
            signal.SIGTERM: lambda: self.request_stop(signal.SIGTERM),
            signal.SIGHUP: self._hangup,
        }
        for signum, handler in handlers.items():
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, handler)
        tasks = {
            asyncio.create_task(module.serve(self.chunkers[node_id].emit), name=node_id): module
            for node_id, module in self.inputs.items()
        }
        ticker = asyncio.create_task(self._tick_forever())
        try:
            await self._wait_for_end(tasks, ticker)
        finally:
            for task in (*tasks, ticker):
                task.cancel()
            await asyncio.gather(*tasks, ticker, return_exceptions=True)
            if self.on_stop is not None:
                self.on_stop()
            for chunker in self.chunkers.values():
                await chunker.flush()
            for signum in handlers:
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(signum)

    async def _wait_for_end(
        self, tasks: dict[asyncio.Task[None], Input[Any]], ticker: asyncio.Task[None]
    ) -> None:
        """Until the inputs end or a stop is asked for; an error of the ticker (its
        ``on_tick`` found a reason to stop, such as a dead worker) is raised here."""
        running = set(tasks)
        stop: asyncio.Task[Any] = asyncio.create_task(self._stop.wait())
        try:
            while running:
                waiting: set[asyncio.Task[Any]] = {*running, stop, ticker}
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if ticker in done:
                    ticker.result()  # raises what stopped it
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
            for chunker in self.chunkers.values():
                await chunker.flush_if_old(now)
            if self.on_tick is not None:
                await self.on_tick(now)
