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


def close_runtime() -> None:
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
    "set_plan",
]
