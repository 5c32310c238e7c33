"""The sweep: send again the task of stored data whose message was lost.

kombu's Redis transport takes a message with BRPOP and records it as unacknowledged with a
second command; if Redis stops between the two, the message is gone while its chunk stays
stored. A listener that dies between storing a chunk and sending its message leaves the
same kind of orphan. Every stored key is registered with its route (``store.py``); a key
registered long enough ago whose task id appears neither in its queue nor among kombu's
unacknowledged messages, twice in a row, gets its message sent again. Its task is
idempotent (event ids come from the chunk), so a rare second run overwrites, never loses.

One worker process sweeps at a time (a Redis lock), every ``sweep_secs``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from gp_celery.broker.messages import Outbox
from gp_celery.broker.store import ChunkStore, Route

log = logging.getLogger(__name__)

LOCK_KEY: Final = "gp-celery:sweep-lock"
SUSPECTS_KEY: Final = "gp-celery:sweep-suspects"
"""Routes found without a message by the last sweep (whichever process ran it)."""
UNACKED_KEY: Final = "unacked"
"""kombu's hash of delivered, unacknowledged messages."""
PRIORITY_SUFFIXES: Final = ("", "\x06\x163", "\x06\x166", "\x06\x169")
"""kombu's Redis transport keeps a list per priority step: the queue, then queue + sep + n."""


def queued_task_ids(client: Any, queues: Iterable[str]) -> set[str]:
    """Task ids of every message waiting in ``queues`` or delivered and not yet acked,
    read in one transaction (so a message moving from one to the other is seen once)."""
    pipe = client.pipeline(transaction=True)
    names = sorted(set(queues))
    for queue in names:
        for suffix in PRIORITY_SUFFIXES:
            pipe.lrange(queue + suffix, 0, -1)
    pipe.hvals(UNACKED_KEY)
    *lists, unacked = pipe.execute()
    ids = {_task_id(raw) for messages in lists for raw in messages}
    ids |= {_task_id(raw, wrapped=True) for raw in unacked}
    ids.discard("")
    return ids


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _task_id(raw: bytes, wrapped: bool = False) -> str:
    """The task id of a kombu Redis message (unacked ones are [message, exchange, key])."""
    try:
        message = json.loads(raw)
        if wrapped:
            message = message[0]
        return str(message["headers"]["id"])
    except (ValueError, KeyError, IndexError, TypeError):
        return ""


@dataclass
class Sweeper:
    client: Any
    store: ChunkStore
    outbox: Outbox
    interval: float
    grace: float = 60.0
    """Only keys stored longer ago than this are looked at: a message is sent right after
    its data is stored (or again and again while the broker is away), so a younger key may
    simply not be sent yet."""
    _next: float = 0.0

    def sweep_if_due(self, now: float) -> int:
        """Sweep if it is time and no other process does; return how many were sent."""
        if now < self._next:
            return 0
        self._next = now + self.interval
        if not self.client.set(LOCK_KEY, "1", nx=True, ex=max(1, int(self.interval))):
            return 0
        return self.sweep()

    def sweep(self) -> int:
        routes = self.store.stored_before(time.time() - self.grace)
        if not routes:
            self.client.delete(SUSPECTS_KEY)
            return 0
        queued = queued_task_ids(self.client, (route.queue for route in routes))
        orphans = [route for route in routes if route.key not in queued]
        before = {_text(member) for member in self.client.smembers(SUSPECTS_KEY)}
        confirmed = [route for route in orphans if route.member in before]
        suspects = {route.member for route in orphans} - {route.member for route in confirmed}
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(SUSPECTS_KEY)
        if suspects:
            pipe.sadd(SUSPECTS_KEY, *suspects)
            pipe.expire(SUSPECTS_KEY, max(60, int(self.interval * 4)))
        pipe.execute()
        return sum(self._resend(route) for route in confirmed)

    def _resend(self, route: Route) -> int:
        if not self.store.exists(route.key):  # done meanwhile (or expired): nothing to send
            self.store.forget(route)
            return 0
        self.outbox.send_route(route)
        log.warning(
            "Sweep: %s was stored but its task message was lost (a broker restart or a "
            "listener that died in between); sent it again to queue '%s'.",
            route.key,
            route.queue,
        )
        return 1
