"""One task: run a chunk (or a crossing batch) through its stage, or set it aside.

- Data made for another version of the stage is refused: sent back for a worker that runs
  that version, and parked after ``version_retries`` tries (nothing is dropped).
- Data whose task started more than ``max_deliveries`` times without finishing has killed
  its worker each time (SIGKILL, segfault, out of memory): it is split in halves that are
  tried apart, until the one record that kills workers is alone; that record goes to the
  dead letters with the reason, the rest goes on.
- Otherwise it runs, what crosses into another stage is sent on, and only then is the
  stored data forgotten (at least once).
"""

from __future__ import annotations

import logging
from typing import Any

from gp_celery.broker.letters import Letter
from gp_celery.broker.store import DELIVERIES_PREFIX, Route, Taken
from gp_celery.event import Batch
from gp_celery.framing import decode_chunk
from gp_celery.framing.split import split_chunk
from gp_celery.worker.runtime import WorkerRuntime

log = logging.getLogger(__name__)


def run_task(  # noqa: PLR0917 - the runtime, the task, then the task's four arguments
    runtime: WorkerRuntime, task: Any, entry: str, queue: str, digest: str, payload: Any
) -> int:
    route = Route(entry, queue, digest, payload) if isinstance(payload, str) else None
    taken = runtime.take(payload)
    if taken.chunk is None and taken.events is None:
        # Done by a run whose acknowledgement was lost, or expired.
        log.warning("%s is not in the store (already done, or expired); nothing to run.", payload)
        if route is not None and runtime.store is not None:
            runtime.store.forget(route)
        return 0
    if digest != runtime.digest_of(queue):
        return refuse(runtime, task, route, taken, entry=entry, queue=queue, digest=digest)
    if taken.deliveries > runtime.config.settings.max_deliveries:
        return isolate(runtime, route, entry, queue, taken)
    crossing = runtime.run(entry, queue, taken)
    runtime.hand_on(crossing)
    runtime.done(route)
    return 1


def events_of(taken: Taken) -> Batch:
    if taken.chunk is not None:
        return decode_chunk(taken.chunk).events
    return taken.events or []


def refuse(
    runtime: WorkerRuntime,
    task: Any,
    route: Route | None,
    taken: Taken,
    *,
    entry: str,
    queue: str,
    digest: str,
) -> int:
    """Data made for another version of this stage: back to the queue, or parked."""
    tries, limit = task.request.retries, runtime.settings.version_retries
    what = runtime.what_differs(queue, digest)
    mine = runtime.digest_of(queue)
    if tries >= limit:
        events = events_of(taken)
        reason = f"no worker runs stage '{queue}' of config {digest[:12]} ({what})"
        runtime.letters.send([Letter("parked", entry, reason, events, digest, queue, tries + 1)])
        runtime.done(route)
        return 0
    log.error(
        "Refusing data for stage '%s' of config %s; this worker runs %s (%s). Sent back to "
        "the queue (try %d of %d).",
        queue,
        digest[:12],
        mine[:12] or "no such stage",
        what,
        tries + 1,
        limit,
    )
    if route is not None and runtime.store is not None:  # a refusal is not a crash
        runtime.store.client.delete(DELIVERIES_PREFIX + route.key)
    # Until its countdown ends a retry waits in a worker, unacknowledged: past the
    # visibility timeout Redis would hand out a second copy, so keep well below it.
    countdown = min(2**tries, 30, max(1, runtime.settings.visibility_timeout // 2))
    raise task.retry(countdown=countdown, queue=queue, max_retries=limit)


def isolate(
    runtime: WorkerRuntime, route: Route | None, entry: str, queue: str, taken: Taken
) -> int:
    """Split data that keeps killing its worker; dead-letter a lone record that does."""
    deliveries = taken.deliveries
    if taken.chunk is not None:
        parts: list[Any] = split_chunk(taken.chunk)
    else:
        events = taken.events or []
        half = len(events) // 2
        parts = [events[:half], events[half:]] if len(events) > 1 else [events]
    name = route.key if route is not None else "a chunk"
    if len(parts) > 1:
        log.warning(
            "%s started %d times and its worker process died each time; split in two to "
            "find the record that kills it.",
            name,
            deliveries - 1,
        )
        runtime.send_parts(parts, entry, queue)
    else:
        reason = (
            f"its worker process died each of the {deliveries - 1} times it ran this record "
            "(killed, crashed or out of memory)"
        )
        node = taken.chunk.node if taken.chunk is not None else entry
        digest = route.digest if route is not None else ""
        letter = Letter("poison", node, reason, events_of(taken), digest, queue, deliveries - 1)
        runtime.letters.send([letter])
    runtime.done(route)
    return 0
