"""Config -> graph of module nodes -> batches run through them in topological order."""

from __future__ import annotations

from gp_celery.pipeline.counters import NodeCounters
from gp_celery.pipeline.graph import Pipeline, PlannedModuleError

__all__ = ["NodeCounters", "Pipeline", "PlannedModuleError"]
