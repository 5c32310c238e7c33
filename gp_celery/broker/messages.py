"""Handing data to a stage: store it (or inline it) and send the stage's task message.

Listeners send chunks, workers send the events that cross into another stage and the
parts of a split chunk, the sweep sends again what lost its message: all through
``Outbox``. The task id of a stored key is the key itself, so the sweep can tell from a
queued message which key it carries without decoding its body.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Final

from gp_celery.broker.store import ChunkStore, Payload, Route, inline
from gp_celery.event import Batch
from gp_celery.framing import Chunk

TASK_NAME: Final = "gp_celery.run_stage"


@dataclass
class Outbox:
    app: Any
    """The Celery app (its broker connection and producer pool)."""
    store: ChunkStore | None
    """Where data is stored; None: it travels inside the message (AMQP without Redis)."""

    def send_chunk(
        self, chunk: Chunk, queue: str, digest: str, producer: Any = None, retry: bool = True
    ) -> None:
        if self.store is None:
            self._send(chunk.node, queue, digest, inline(chunk), producer, retry)
            return
        route = self.store.put_chunk(chunk, chunk.node, queue, digest)
        self.send_route(route, producer, retry)

    def send_batch(self, events: Batch, entry: str, queue: str, digest: str) -> None:
        if self.store is None:
            self._send(entry, queue, digest, inline(events), None, True)
            return
        self.send_route(self.store.put_batch(events, entry, queue, digest))

    def send_route(self, route: Route, producer: Any = None, retry: bool = True) -> None:
        """(Re)send the task for data already stored under ``route.key``."""
        self._send(route.entry, route.queue, route.digest, route.key, producer, retry)

    def _send(  # noqa: PLR0917 - the four task arguments, then how to send them
        self, entry: str, queue: str, digest: str, payload: Payload, producer: Any, retry: bool
    ) -> None:
        task_id = payload if isinstance(payload, str) else uuid.uuid4().hex
        self.app.send_task(
            TASK_NAME,
            args=(entry, queue, digest, payload),
            queue=queue,
            task_id=task_id,
            producer=producer,
            retry=retry,
        )
