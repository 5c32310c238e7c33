"""The one Celery task, and the worker's start and stop. Thin on purpose (STYLE.md): the
task takes this process's runtime and hands over; ``worker/stage.py`` does the work."""

from __future__ import annotations

import logging
import time
from typing import Any, Final

from celery import Task, signals
from celery.exceptions import Reject
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from gp_celery.app import SETTINGS, app, config_path, from_broker
from gp_celery.broker.messages import TASK_NAME
from gp_celery.worker import (
    WorkerConfigError,
    WorkerPlan,
    check_single_consumers,
    close_runtime,
    load_worker_config,
    runtime,
    runtime_for,
    set_plan,
)
from gp_celery.worker.runtime import from_broker_client, pushed_config
from gp_celery.worker.stage import run_task

log = logging.getLogger(__name__)

HAND_ON_ERRORS: Final = (OperationalError, RedisError)
"""The broker or Redis failed a task's reads or writes (its chunk, crossing batches, dead
letters, a parked chunk): e.g. down, or at maxmemory."""
REQUEUE_PAUSE_SECS: Final = 1.0
EXIT_CONFIG: Final = 78
"""sysexits' EX_CONFIG: a worker whose config cannot run stops at once, with this code."""


def runs_tasks_itself(worker: Any) -> bool:
    """The solo and thread pools run tasks in the worker's own process (threads take turns
    on the runtime's lock); prefork runs them in child processes."""
    pool = str(getattr(worker, "pool_cls", "prefork")).lower()
    return "prefork" not in pool and "processes" not in pool


def pool_processes(worker: Any) -> int:
    """How many processes run tasks."""
    return 1 if runs_tasks_itself(worker) else int(worker.concurrency or 1)


@signals.worker_init.connect
def _plan(sender: Any, **_: Any) -> None:
    """In the worker's main process, before the pool starts: which config, which queues;
    a config that cannot run stops the worker here, with the reason."""
    path = config_path() or ""
    pushed_name = from_broker()
    queues = sorted(sender.app.amqp.queues.consume_from)
    try:
        pushed = pushed_config(pushed_name, from_broker_client(SETTINGS)) if pushed_name else None
        config = load_worker_config(path, pushed)
        check_single_consumers(config, queues, pool_processes(sender))
    except (WorkerConfigError, RedisError) as error:
        log.critical("gp-celery worker cannot start: %s", error)
        raise SystemExit(EXIT_CONFIG) from None
    mine = [queue for queue in queues if queue in config.stage_queues]
    set_plan(WorkerPlan(path, mine, from_broker=pushed_name))


READY_PREFIX: Final = "gp-celery:ready:"
"""A worker sets ``READY_PREFIX + <its node name>`` once it consumes (``run --workers``
waits for it without pinging)."""


@signals.worker_ready.connect
def _announce_ready(sender: Any, **_: Any) -> None:
    """A solo or thread pool runs tasks in the worker itself: its runtime (timer, sweep)
    starts now, even if no task ever comes. Then the worker says it is ready."""
    from gp_celery.app import SETTINGS
    from gp_celery.broker.redis import redis_client

    if runs_tasks_itself(sender):
        runtime()
    if SETTINGS.store_url:
        try:
            redis_client(SETTINGS.store_url).set(READY_PREFIX + sender.hostname, 1, ex=24 * 3600)
        except RedisError as error:
            log.warning("gp-celery worker: could not announce that it is ready (%s).", error)


@signals.worker_process_init.connect
def _build_runtime(**_: Any) -> None:
    """A prefork child: its runtime (and timer, and sweep) starts before any task comes."""
    runtime()


@signals.worker_process_shutdown.connect
@signals.worker_shutdown.connect
def _close_runtime(**_: Any) -> None:
    """Flush and close the sinks (a prefork child's, or a solo worker's own)."""
    close_runtime()


@app.task(name=TASK_NAME, bind=True, max_retries=None)
def run_stage(self: Task[Any, Any], entry: str, queue: str, digest: str, payload: Any) -> int:
    """Run a chunk or batch (inline, or by its key in the store) from node ``entry``
    through the stage on ``queue``."""
    try:
        return run_task(runtime_for(digest, queue), self, entry, queue, digest, payload)
    except HAND_ON_ERRORS as error:
        # A failed task is acknowledged and gone: give the chunk back instead (if the
        # broker cannot take it back now, it returns after the visibility timeout). The
        # pause keeps a lasting failure from spinning through the same chunk.
        log.error(  # noqa: TRY400 - the message says what happens; no traceback needed
            "A task for queue '%s' could not read its data or hand on what it made "
            "(%s: %s); it goes back to the queue and runs again.",
            queue,
            type(error).__name__,
            error,
        )
        time.sleep(REQUEUE_PAUSE_SECS)
        raise Reject(error, requeue=True) from error
