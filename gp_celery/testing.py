"""Helpers for testing modules and whole pipelines, for our tests and for users' own.

    from gp_celery.testing import build, run
    parser = build("RegexParser", {"field_extraction_patterns": [{"web": r"(?P<code>\\d{3})$"}]})
    assert run(parser, [{"data": "GET / 404"}])[0]["code"] == "404"

``build`` goes through the same option validation as a config file, so a test sees the
errors a user would. ``run`` hands back what comes out, tags in ``gambolputty.errors`` included.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import ValidationError

from gp_celery.event import Batch, Event, metadata
from gp_celery.modules.base import Module, Sink
from gp_celery.modules.registry import lookup


class BuildError(ValueError):
    """The options were rejected; the message lists every problem."""


def build(name: str, options: dict[str, Any] | None = None, node_id: str | None = None) -> Any:
    """Build a module by YAML name with validated options, and run its setup()."""
    cls = lookup(name)
    if cls is None:
        raise BuildError(f"unknown module {name!r}")
    try:
        validated = cls.options_model.model_validate(options or {})
    except ValidationError as error:
        raise BuildError(str(error)) from None
    module: Module[Any] = cls(validated, node_id or cls.name)
    module.setup()
    return module


def _prepared(events: list[Event]) -> Batch:
    batch = copy.deepcopy(events)
    for event in batch:
        metadata(event)
    return batch


def run(target: Module[Any], events: list[Event]) -> Batch:
    """Run events (copied, given metadata if missing) through a module; return its output.

    A sink returns the events it reported as failed, each tagged with the error.
    """
    batch = _prepared(events)
    if isinstance(target, Sink):
        failures = target.write(batch)
        failed = []
        for failure in failures:
            target.fail(batch[failure.index], failure.error)
            failed.append(batch[failure.index])
        return failed
    return target.process(batch)
