"""The one Celery task: run a batch through a stage, send crossing events on. Thin on
purpose (STYLE.md): decode, take the cached stage, run, publish; never wait on a result."""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Final

from celery import Task, signals
from celery.exceptions import Reject
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from gp_celery.app import app, visibility_timeout
from gp_celery.batch_store import Payload, batch_store
from gp_celery.event import Batch
from gp_celery.worker import PARKED_KEY, close_runtime, push_to_list, runtime

log = logging.getLogger(__name__)

TASK_NAME: Final = "gp_celery.run_stage"
VERSION_RETRIES: Final = int(os.environ.get("GP_VERSION_RETRIES", "10"))
"""How often a batch for another config version goes back for a matching worker
(GP_VERSION_RETRIES; the tests shorten it)."""
HAND_ON_ERRORS: Final = (OperationalError, RedisError)
"""The broker or Redis refused what a task hands on (crossing batches, dead letters, a
parked batch): e.g. down, or at maxmemory."""
REQUEUE_PAUSE_SECS: Final = 1.0


@signals.worker_process_init.connect
def _load_stage_cache(**_: Any) -> None:
    runtime()


@signals.worker_process_shutdown.connect
def _close_sinks(**_: Any) -> None:
    close_runtime()


def payload_for(events: Batch, key: str | None = None) -> Payload:
    """The stored batch's key, or the events themselves when there is no batch store."""
    store = batch_store()
    return events if store is None else store.put(events, key)


def send_batch(entry: str, queue: str, digest: str, events: Batch, producer: Any = None) -> None:
    """Publish one batch task for the stage that starts at ``entry``."""
    args = (entry, queue, digest, payload_for(events))
    run_stage.apply_async(args=args, queue=queue, producer=producer)


@app.task(name=TASK_NAME, bind=True, max_retries=VERSION_RETRIES)
def run_stage(self: Task[Any, Any], entry: str, queue: str, digest: str, payload: Payload) -> int:
    """Run a batch (inline, or by its key in the batch store) from node ``entry`` through
    the stage on ``queue``."""
    try:
        return _run_stage(self, entry, queue, digest, payload)
    except HAND_ON_ERRORS as error:
        # A failed task is acknowledged and gone: give the batch back instead (if the
        # broker cannot take it back now, it returns after the visibility timeout). The
        # pause keeps a lasting failure from spinning through the same batch.
        log.error(  # noqa: TRY400 - the message says what happens; no traceback needed
            "A batch for queue '%s' could not be handed on (%s: %s); it goes back to "
            "the queue and runs again.",
            queue,
            type(error).__name__,
            error,
        )
        time.sleep(REQUEUE_PAUSE_SECS)
        raise Reject(error, requeue=True) from error


def _run_stage(task: Task[Any, Any], entry: str, queue: str, digest: str, payload: Payload) -> int:
    events = _events_of(payload)
    if events is None:
        return 0
    current = runtime()
    if digest != current.digest:
        parked = _refuse(task, entry, queue, digest, events, mine=current.digest)
        _forget(payload)  # reached only once parked; a retry keeps the stored batch
        return parked
    for node_id, batch in current.run(entry, queue, events).items():
        send_batch(node_id, current.queue_of(node_id), digest, batch)
    _forget(payload)
    return len(events)


def _events_of(payload: Payload) -> Batch | None:
    if not isinstance(payload, str):
        return payload
    store = batch_store()
    events = store.get(payload) if store is not None else None
    if events is None:
        # Deleted after a successful run whose acknowledgement was lost, or expired.
        log.warning(
            "Batch %s is not in the batch store (already done, or expired); nothing to run.",
            payload,
        )
    return events


def _forget(payload: Payload) -> None:
    store = batch_store()
    if isinstance(payload, str) and store is not None:
        store.delete(payload)


def _refuse(
    task: Task[Any, Any], entry: str, queue: str, digest: str, events: Batch, *, mine: str
) -> int:
    """A batch made for another config: send it back for a worker that runs that config;
    after VERSION_RETRIES tries, park it (nothing is dropped)."""
    tries = task.request.retries
    if tries >= VERSION_RETRIES:
        push_to_list(
            PARKED_KEY,
            [
                {
                    "entry": entry,
                    "queue": queue,
                    "digest": digest,
                    "reason": f"no worker runs config {digest[:12]}",
                    "events": events,
                }
            ],
        )
        log.error(
            "Batch of %d events for config %s parked in Redis list '%s' after %d tries: "
            "this worker runs config %s.",
            len(events),
            digest[:12],
            PARKED_KEY,
            tries,
            mine[:12],
        )
        return 0
    log.error(
        "Refusing a batch of %d events made for config %s; this worker runs %s. "
        "Requeued (try %d of %d).",
        len(events),
        digest[:12],
        mine[:12],
        tries + 1,
        VERSION_RETRIES,
    )
    # Until its countdown ends a retry waits in a worker, unacknowledged: past the
    # visibility timeout Redis would hand out a second copy, so keep well below it.
    countdown = min(2**tries, 30, max(1, visibility_timeout() // 2))
    raise task.retry(countdown=countdown, queue=queue)
