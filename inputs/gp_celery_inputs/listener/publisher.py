"""Publish batches as stage tasks: one producer connection, backpressure, patient retries.

All broker I/O happens on one thread (kombu connections are not thread-safe), so the
listener's event loop keeps accepting clients while a publish waits. ``publish`` returns
only when the batch is on the broker: while the broker is down or the queue is above its
high-water mark, the caller waits, and inputs stop reading. Nothing is dropped here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from gp_celery.event import Batch

log = logging.getLogger(__name__)

MAX_BACKOFF_SECS = 10.0
DEPTH_CHECK_SECS = 0.2


@dataclass
class PublisherStats:
    batches: int = 0
    events: int = 0
    publish_errors: int = 0
    paused_secs: float = 0.0


@dataclass
class Publisher:
    """Sends ``run_stage`` tasks for batches entering at an input node."""

    app: Any
    digest: str
    queues: dict[str, str]
    """Input node id -> the queue of the stage it feeds."""
    high_water: int
    low_water: int
    later_stages: tuple[str, ...] = ()
    """Queues of later stages: a slow later stage must stop the inputs too, or its queue
    grows without bound while the first one looks fine."""
    stats: PublisherStats = field(default_factory=PublisherStats)

    def __post_init__(self) -> None:
        self._stopping = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="publisher")
        self._connection: Any = None
        self._producer: Any = None
        self._depth_checked: dict[str, float] = {}
        self._depth_bound: dict[str, int] = {}
        """Per queue: the depth last read plus the batches sent since. Consumers only lower
        the depth, so below the mark the broker is asked at most every DEPTH_CHECK_SECS, yet
        a burst between two checks cannot overshoot the mark."""

    async def publish(self, node_id: str, batch: Batch) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._publish_until_done, node_id, batch)

    def close(self) -> None:
        self._executor.submit(self._release).result()
        self._executor.shutdown(wait=True)

    def _publish_until_done(self, node_id: str, batch: Batch) -> None:
        from gp_celery.batch_store import new_key

        queue = self.queues[node_id]
        delay = 0.5
        key = new_key()  # one key per batch: a retried publish overwrites, never duplicates
        while True:
            try:
                self._wait_below_high_water(queue)
                self._send(node_id, queue, batch, key)
            except Exception as error:  # noqa: BLE001 - any broker failure: wait and retry
                self.stats.publish_errors += 1
                self._release()
                log.warning(
                    "Listener: publishing a batch of %d events to queue '%s' failed "
                    "(%s: %s); retrying in %.1fs. Inputs wait meanwhile.",
                    len(batch),
                    queue,
                    type(error).__name__,
                    error,
                    delay,
                )
                time.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECS)
            else:
                self._depth_bound[queue] = self._depth_bound.get(queue, 0) + 1
                self.stats.batches += 1
                self.stats.events += len(batch)
                return

    def _send(self, node_id: str, queue: str, batch: Batch, key: str) -> None:
        from gp_celery.tasks import TASK_NAME, payload_for

        producer = self._ensure_producer()
        self.app.send_task(
            TASK_NAME,
            args=(node_id, queue, self.digest, payload_for(batch, key)),
            queue=queue,
            producer=producer,
            retry=False,
        )

    def _ensure_producer(self) -> Any:
        if self._producer is None:
            self._connection = self.app.connection_for_write()
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
        """The deepest of ``queue`` and the later stages' queues, in batches."""
        return max(self.queue_depth(name) for name in {queue, *self.later_stages})

    def stop_pausing(self) -> None:
        """Shutting down: publish what is pending even above the high-water mark, so a
        stop never waits for workers that may not be running."""
        self._stopping = True

    def _wait_below_high_water(self, queue: str) -> None:
        if self._stopping:
            return
        now = time.monotonic()
        recent = now - self._depth_checked.get(queue, 0.0) < DEPTH_CHECK_SECS
        if recent and self._depth_bound.get(queue, 0) < self.high_water:
            return
        self._depth_checked[queue] = now
        depth = self._depth_bound[queue] = self.backlog(queue)
        if depth < self.high_water:
            return
        log.warning(
            "Listener: queue '%s' or a later stage's holds %d batches (high-water mark %d); "
            "inputs pause "
            "until it is below %d.",
            queue,
            depth,
            self.high_water,
            self.low_water,
        )
        started = time.monotonic()
        while depth >= self.low_water and not self._stopping:
            time.sleep(DEPTH_CHECK_SECS)
            depth = self.backlog(queue)
        self._depth_bound[queue] = depth
        paused = time.monotonic() - started
        self.stats.paused_secs += paused
        log.info(
            "Listener: queue '%s' down to %d batches after %.1fs; reading again.",
            queue,
            depth,
            paused,
        )
