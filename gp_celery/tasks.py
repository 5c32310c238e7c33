"""The one Celery task: run a batch through a stage, send crossing events on. Thin on
purpose (STYLE.md): decode, take the cached stage, run, publish; never wait on a result."""

from __future__ import annotations

import logging
import os
from typing import Any, Final

from celery import Task, signals

from gp_celery.app import app, visibility_timeout
from gp_celery.event import Batch
from gp_celery.worker import PARKED_KEY, close_runtime, push_to_list, runtime

log = logging.getLogger(__name__)

TASK_NAME: Final = "gp_celery.run_stage"
VERSION_RETRIES: Final = int(os.environ.get("GP_VERSION_RETRIES", "10"))
"""How often a batch for another config version goes back for a matching worker
(GP_VERSION_RETRIES; the tests shorten it)."""


@signals.worker_process_init.connect
def _load_stage_cache(**_: Any) -> None:
    runtime()


@signals.worker_process_shutdown.connect
def _close_sinks(**_: Any) -> None:
    close_runtime()


def send_batch(entry: str, queue: str, digest: str, events: Batch, producer: Any = None) -> None:
    """Publish one batch task for the stage that starts at ``entry``."""
    run_stage.apply_async(args=(entry, queue, digest, events), queue=queue, producer=producer)


@app.task(name=TASK_NAME, bind=True, max_retries=VERSION_RETRIES)
def run_stage(self: Task[Any, Any], entry: str, queue: str, digest: str, events: Batch) -> int:
    """Run ``events`` from node ``entry`` through the stage on ``queue``."""
    current = runtime()
    if digest != current.digest:
        return _refuse(self, entry, queue, digest, events, mine=current.digest)
    for node_id, batch in current.run(entry, queue, events).items():
        send_batch(node_id, current.queue_of(node_id), digest, batch)
    return len(events)


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
