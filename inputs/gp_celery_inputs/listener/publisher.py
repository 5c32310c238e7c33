"""Publish chunks as stage tasks: one producer connection, backpressure, patient retries.

All broker I/O happens on one thread (kombu connections are not thread-safe), so the
listener's event loop keeps accepting clients while a publish waits. ``publish`` returns
only when the chunk is on the broker: while the broker is down, its queue is above the
high-water mark or Redis is nearly full, the caller waits, and inputs stop reading. Once
stopping, a chunk that still cannot be delivered after the grace period is spooled to a
local file, to be sent on the next start. Nothing is dropped here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final

from gp_celery.broker.messages import Outbox
from gp_celery.config import GlobalOptions
from gp_celery.framing import Chunk
from gp_celery.framing.cut import records_in
from gp_celery_inputs.listener.spool import Spool

log = logging.getLogger(__name__)

MAX_BACKOFF_SECS: Final = 10.0
DEPTH_CHECK_SECS: Final = 0.2
MEMORY_CHECK_SECS: Final = 1.0
"""Redis' INFO costs a millisecond to parse; between reads, the bytes stored since keep
the estimate honest."""
STORED_OVERHEAD: Final = 2
"""What storing a chunk costs Redis, counted conservatively as twice its bytes (the value,
its message, the registry and allocator slack measured about 1.7x for 64 KiB chunks)."""


@dataclass
class PublisherStats:
    """What a listener published. Records are not counted on the way (counting lines costs
    a pass over every byte); workers count the events."""

    chunks: int = 0
    bytes: int = 0
    publish_errors: int = 0
    paused_secs: float = 0.0
    spooled_chunks: int = 0
    spooled_records: int = 0
    by_input: dict[str, list[int]] = field(default_factory=dict)
    """Input node -> [chunks, bytes] published."""

    def fields(self) -> dict[str, float]:
        """For `gp-celery stats`: ``listener|<name>`` and ``module|<input>|chunks|bytes``."""
        found: dict[str, float] = {
            f"listener|{name}": getattr(self, name)
            for name in (
                "chunks",
                "bytes",
                "publish_errors",
                "paused_secs",
                "spooled_chunks",
                "spooled_records",
            )
        }
        for node, (chunks, size) in self.by_input.items():
            found[f"module|{node}|published_chunks"] = chunks
            found[f"module|{node}|published_bytes"] = size
        return found


@dataclass
class Publisher:
    """Sends ``run_stage`` tasks for chunks of the listener's inputs."""

    outbox: Outbox
    queues: dict[str, str]
    """Input node id -> the queue of the stage it feeds."""
    digests: dict[str, str]
    """Queue -> digest of its stage."""
    settings: GlobalOptions
    spool: Spool
    later_stages: tuple[str, ...] = ()
    """Queues of later stages: a slow later stage must stop the inputs too, or its queue
    grows without bound while the first one looks fine."""
    memory_client: Any = None
    """The Redis the chunks are stored in, watched for its maxmemory (None: not Redis)."""
    stats: PublisherStats = field(default_factory=PublisherStats)

    def __post_init__(self) -> None:
        self._deadline: float | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="publisher")
        self._connection: Any = None
        self._producer: Any = None
        self._depth_checked: dict[str, float] = {}
        self._depth_bound: dict[str, int] = {}
        """Per queue: the depth last read plus the chunks sent since. Consumers only lower
        the depth, so below the mark the broker is asked at most every DEPTH_CHECK_SECS, yet
        a burst between two checks cannot overshoot the mark."""
        self._memory: tuple[int, int] = (0, 0)
        self._memory_checked = float("-inf")
        """Redis' used memory as last read plus the bytes stored since, and its maxmemory
        (0: no limit): like the depth bound, so a burst cannot fill Redis between checks."""
        self._held: dict[int, Chunk] = {}
        """Chunks handed to publish() and not yet on the broker or spooled."""

    @property
    def stopping(self) -> bool:
        return self._deadline is not None

    async def publish(self, chunk: Chunk) -> None:
        self._held[id(chunk)] = chunk
        try:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._executor, self._publish_until_done, chunk)
        finally:
            self._held.pop(id(chunk), None)

    def held_chunks(self) -> list[Chunk]:
        """Chunks handed to publish() and not yet delivered (for an honest count at a
        forced exit)."""
        return list(self._held.values())

    def begin_stop(self) -> None:
        """Shutting down: publish what is pending even above the high-water mark (a stop
        must not wait for workers that may not be running), and spool what the broker
        still refuses once ``stop_grace_secs`` have passed."""
        if self._deadline is None:
            self._deadline = time.monotonic() + self.settings.stop_grace_secs

    def close(self) -> None:
        self._executor.submit(self._release).result()
        self._executor.shutdown(wait=True)

    def send_spooled(self) -> int:
        """Send what an earlier run spooled; return how many chunks. Called before the
        inputs start, so old records go first."""
        sent = 0
        for item in self.spool.take():
            self._send(item.chunk, item.queue, item.digest)
            item.path.unlink()
            sent += 1
            self._count(item.chunk)
        if sent:
            log.info("Listener: sent %d chunks spooled by an earlier run.", sent)
        return sent

    def _publish_until_done(self, chunk: Chunk) -> None:
        queue = self.queues[chunk.node]
        digest = self.digests[queue]
        delay = 0.5
        while True:
            try:
                self._wait_below_high_water(queue)
                self._send(chunk, queue, digest)
            except Exception as error:  # noqa: BLE001 - any broker failure: wait and retry
                self.stats.publish_errors += 1
                self._release()
                if self._deadline is not None and time.monotonic() >= self._deadline:
                    self._spool(chunk, queue, digest, error)
                    return
                log.warning(
                    "Listener: publishing a chunk of %d bytes to queue '%s' failed "
                    "(%s: %s); retrying in %.1fs. Inputs wait meanwhile.",
                    chunk.size,
                    queue,
                    type(error).__name__,
                    error,
                    delay,
                )
                time.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECS)
            else:
                self._depth_bound[queue] = self._depth_bound.get(queue, 0) + 1
                used, limit = self._memory
                self._memory = (used + STORED_OVERHEAD * chunk.size, limit)
                self._count(chunk)
                return

    def _count(self, chunk: Chunk) -> None:
        self.stats.chunks += 1
        self.stats.bytes += chunk.size
        counts = self.stats.by_input.setdefault(chunk.node, [0, 0])
        counts[0] += 1
        counts[1] += chunk.size

    def _spool(self, chunk: Chunk, queue: str, digest: str, error: Exception) -> None:
        path = self.spool.put(chunk, queue, digest)
        records = records_in(chunk)
        self.stats.spooled_chunks += 1
        self.stats.spooled_records += records
        log.error(
            "Listener: the broker is still unreachable (%s); spooled %d records to %s. "
            "They are sent on the next start.",
            error,
            records,
            path,
        )

    def _send(self, chunk: Chunk, queue: str, digest: str) -> None:
        self.outbox.send_chunk(chunk, queue, digest, producer=self._ensure_producer(), retry=False)

    def _ensure_producer(self) -> Any:
        if self._producer is None:
            self._connection = self.outbox.app.connection_for_write()
            self._connection.ensure_connection(max_retries=1)
            self._producer = self._connection.Producer()
        return self._producer

    def _release(self) -> None:
        if self._connection is not None:
            try:
                self._connection.release()
            except Exception:
                log.debug("Listener: closing a broken broker connection failed.", exc_info=True)
        self._connection = self._producer = None

    def queue_depth(self, queue: str) -> int:
        """Messages waiting in ``queue`` (Redis list length or AMQP message count)."""
        self._ensure_producer()
        channel = self._connection.default_channel
        try:
            return int(channel.queue_declare(queue=queue, passive=True).message_count)
        except Exception as error:
            if "NOT_FOUND" in str(error) or "404" in str(error):
                return 0  # a Redis queue with no messages does not exist yet
            raise

    def backlog(self, queue: str) -> int:
        """The deepest of ``queue`` and the later stages' queues, in chunks."""
        return max(self.queue_depth(name) for name in {queue, *self.later_stages})

    def memory_used(self, fresh: bool = False) -> float:
        """The share of its maxmemory the chunk store's Redis uses (0 without a limit):
        read at most every MEMORY_CHECK_SECS (or when ``fresh``), estimated between."""
        if self.memory_client is None:
            return 0.0
        now = time.monotonic()
        if fresh or now - self._memory_checked >= MEMORY_CHECK_SECS:
            self._memory_checked = now
            info = self.memory_client.info("memory")
            self._memory = (int(info.get("used_memory", 0)), int(info.get("maxmemory", 0)))
        return self._memory_bound()

    def _memory_bound(self) -> float:
        used, limit = self._memory
        return used / limit if limit else 0.0

    def _full(self, queue: str) -> str | None:
        """Why the listener must wait now, or None."""
        depth = self._depth_bound[queue] = self.backlog(queue)
        if depth >= self.settings.high_water_batches:
            return (
                f"queue '{queue}' or a later stage's holds {depth} chunks (high-water mark "
                f"{self.settings.high_water_batches})"
            )
        memory = self.memory_used()
        if memory >= self.settings.high_water_memory:  # the estimate says so: look again
            memory = self.memory_used(fresh=True)
        if memory >= self.settings.high_water_memory:
            return (
                f"Redis uses {memory:.0%} of its maxmemory (high-water mark "
                f"{self.settings.high_water_memory:.0%})"
            )
        return None

    def _below_low_water(self, queue: str) -> bool:
        depth = self._depth_bound[queue] = self.backlog(queue)
        settings = self.settings
        memory = self.memory_used(fresh=True)
        return depth < settings.low_water_batches and memory < settings.low_water_memory

    def _wait_below_high_water(self, queue: str) -> None:
        if self.stopping:
            return
        now = time.monotonic()
        recent = now - self._depth_checked.get(queue, 0.0) < DEPTH_CHECK_SECS
        below = self._depth_bound.get(queue, 0) < self.settings.high_water_batches
        if recent and below and self._memory_bound() < self.settings.high_water_memory:
            return
        self._depth_checked[queue] = now
        reason = self._full(queue)
        if reason is None:
            return
        log.warning(
            "Listener: %s; inputs pause until it is below %d chunks and %.0f%% memory.",
            reason,
            self.settings.low_water_batches,
            self.settings.low_water_memory * 100,
        )
        started = time.monotonic()
        while not self.stopping and not self._below_low_water(queue):
            time.sleep(DEPTH_CHECK_SECS)
        paused = time.monotonic() - started
        self.stats.paused_secs += paused
        log.info("Listener: reading again after %.1fs.", paused)
