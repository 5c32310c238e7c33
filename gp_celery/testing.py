"""Helpers for testing modules and whole pipelines, for our tests and for users' own.

    from gp_celery.testing import build, run, pipeline
    parser = build("RegexParser", {"field_extraction_patterns": [{"web": r"(?P<code>\\d{3})$"}]})
    assert run(parser, [{"data": "GET / 404"}])[0]["code"] == "404"

    out = run(pipeline("conf/my-pipeline.yml"), [{"data": "a line"}])

``build`` goes through the same option validation as a config file, so a test sees the
errors a user would. ``run`` hands back what comes out, tags in ``gambolputty.errors``
included: for a module, its output; for a pipeline, every event that reached a sink or the
end of a branch (sinks still write, so use file or null sinks in tests).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from gp_celery.config import ConfigError, PipelineConfig, load_config, parse_config
from gp_celery.event import Batch, Event, metadata
from gp_celery.modules.base import Input, Module, Sink
from gp_celery.pipeline import Pipeline


class BuildError(ValueError):
    """The options were rejected; the message lists every problem, as `check` would."""


def build(name: str, options: dict[str, Any] | None = None, node_id: str | None = None) -> Any:
    """Build a module by YAML name through the config loader, and run its setup()."""
    entry: dict[str, Any] = dict(options or {})
    if node_id is not None:
        entry["id"] = node_id
    try:
        config = parse_config("", "<build>", data=[{name: entry}])
    except ConfigError as error:
        raise BuildError(str(error)) from None
    spec = config.nodes[0]
    if spec.module is None or spec.options is None:
        raise BuildError(f"{name} is not built yet")
    module: Module[Any] = spec.module(spec.options, spec.id)
    module.setup()
    return module


def pipeline(config: str | Path | PipelineConfig) -> Pipeline:
    """A whole config's pipeline, set up (inputs are not started), ready for ``run``."""
    if not isinstance(config, PipelineConfig):
        config = load_config(config)
    built = Pipeline(config, collect=[])
    built.setup(include_inputs=False)
    return built


def _prepared(events: list[Event]) -> Batch:
    batch = copy.deepcopy(events)
    for event in batch:
        metadata(event)
    return batch


def run(target: Module[Any] | Pipeline, events: list[Event], entry: str | None = None) -> Batch:
    """Run copies of ``events`` (given metadata if missing) through a module or pipeline.

    For a pipeline the events enter at ``entry`` (default: the first input, else the first
    node). A sink returns the events it reported as failed, each tagged with the error.
    """
    batch = _prepared(events)
    if isinstance(target, Pipeline):
        assert target.collect is not None, "build pipelines for run() with testing.pipeline()"
        target.collect.clear()
        inputs = target.inputs
        target.run_batch(entry or (inputs[0] if inputs else target.order[0]).id, batch)
        return list(target.collect)
    if isinstance(target, Sink):
        failed = []
        for failure in target.write(batch):
            target.fail(batch[failure.index], failure.error)
            failed.append(batch[failure.index])
        return failed
    if isinstance(target, Input):
        return batch
    return target.process(batch)
