"""The worker side: one runtime per process, built from a plan the main process made.

``plan`` is decided in the worker's main process at ``worker_init`` (which config, which
queues), where a config that cannot run stops the worker at once with the reason;
``runtime()`` builds the process's runtime from it on first use.
"""

from __future__ import annotations

import logging

from gp_celery.memory import settle_memory
from gp_celery.worker.runtime import (
    WorkerConfigError,
    WorkerPlan,
    WorkerRuntime,
    check_single_consumers,
    load_worker_config,
)

log = logging.getLogger(__name__)

_plan: list[WorkerPlan] = []
_runtime: list[WorkerRuntime] = []
_versions: dict[int, WorkerRuntime] = {}
"""With --gp-from-broker: runtimes of other pushed versions this process ran tasks for."""
KEPT_VERSIONS = 3


def set_plan(plan: WorkerPlan) -> None:
    _plan[:] = [plan]


def runtime() -> WorkerRuntime:
    """This process's runtime, loaded on first use (its timer started)."""
    if not _runtime:
        from gp_celery.app import SETTINGS, app, config_path

        plan = _plan[0] if _plan else WorkerPlan(config_path() or "")
        built = WorkerRuntime.load(plan, SETTINGS, app)
        built.start_timer()
        _runtime.append(built)
        settle_memory()
    return _runtime[0]


def runtime_for(digest: str, queue: str) -> WorkerRuntime:
    """The runtime to run a task of ``queue`` made for stage ``digest``: this process's own,
    or, with --gp-from-broker, one for the pushed version that digest belongs to (built on
    first use; the newest few are kept), so a batch always runs on the version it was made
    for while a fleet switches. Without such a version, this process's own (which refuses
    the task, as any worker does with data for another config)."""
    own = runtime()
    plan = _plan[0] if _plan else None
    if digest == own.digest_of(queue) or plan is None or not plan.from_broker:
        return own
    for kept in _versions.values():
        if kept.digest_of(queue) == digest:
            return kept
    client = own.store.client if own.store is not None else None
    if client is None:
        return own
    from gp_celery.worker.runtime import pushed_config

    try:
        pushed = pushed_config(plan.from_broker, client, digest)
    except WorkerConfigError:
        return own
    from gp_celery.app import SETTINGS, app

    log.info("gp-celery worker: running version %d of '%s' too.", pushed.version, pushed.name)
    built = WorkerRuntime.load(plan, SETTINGS, app, pushed)
    built.start_timer()
    _versions[pushed.version] = built
    while len(_versions) > KEPT_VERSIONS:
        _versions.pop(min(_versions)).close()
    return built


def close_runtime() -> None:
    while _versions:
        _versions.popitem()[1].close()
    if _runtime:
        _runtime.pop().close()


__all__ = [
    "WorkerConfigError",
    "WorkerPlan",
    "WorkerRuntime",
    "check_single_consumers",
    "close_runtime",
    "load_worker_config",
    "runtime",
    "runtime_for",
    "set_plan",
]
