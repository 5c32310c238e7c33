"""Helpers for testing modules and whole pipelines, for our tests and for users' own.

    from gp_celery.testing import build, run, pipeline
    parser = build("RegexParser", {"field_extraction_patterns": [{"web": r"(?P<code>\\d{3})$"}]})
    assert run(parser, [{"data": "GET / 404"}])[0]["code"] == "404"

    out = run(pipeline("conf/my-pipeline.yml"), [{"data": "a line"}])

``build`` goes through the same loader as a config file, so a test sees the errors a user
would, and the node keys (``filter``, ``add_fields``, ``delete_fields``, ``event_type``)
work as in a pipeline. ``run`` hands back what comes out, tags in ``gambolputty.errors``
included: for a module, what it sends on (events that failed its filter pass unchanged);
for a sink, the events it failed; for an input, the events its framing makes of what
arrives (each given event's ``data`` is one read or datagram); for a pipeline, every event
that reached a sink or the end of a branch (sinks still write: use file or null sinks).
"""

from __future__ import annotations

import asyncio
import copy
import weakref
from pathlib import Path
from typing import Any, Final

from gp_celery.config import ConfigError, PipelineConfig, load_config, parse_config
from gp_celery.event import DATA, Batch, Event, metadata
from gp_celery.framing import Chunk, Piece, decode_chunk
from gp_celery.modules.base import Input, Module, Sink
from gp_celery.pipeline import Pipeline
from gp_celery.pipeline.node import Route
from gp_celery.pipeline.sink_writer import SinkWriter

OUT: Final = "\x00testing.out"
"""A node id no config can have: where a test pipeline's finished events are collected."""

_pipelines: weakref.WeakKeyDictionary[Module[Any], Pipeline] = weakref.WeakKeyDictionary()


class BuildError(ValueError):
    """The options were rejected; the message lists every problem, as `check` would."""


def build(name: str, options: dict[str, Any] | None = None, node_id: str | None = None) -> Any:
    """Build a module by YAML name through the config loader (node keys included), set up."""
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
    built = pipeline(config)
    module = built.nodes[spec.id].module
    assert module is not None
    _pipelines[module] = built
    return module


class _CollectingWriter(SinkWriter):
    """A sink writer that also keeps what its sink took, for ``run``."""

    taken: Batch

    def write(self, events: Batch) -> tuple[int, int]:
        self.taken.extend(events)
        return super().write(events)


def pipeline(config: str | Path | PipelineConfig) -> Pipeline:
    """A whole config's pipeline, set up (inputs are built, not started), ready for ``run``.

    Every branch end gets a route to a collecting outlet and every sink writer keeps what
    it took, so the runner itself has no test hooks."""
    if not isinstance(config, PipelineConfig):
        config = load_config(config)
    built = Pipeline(config)
    for node in built.order:
        if not node.routes and not node.is_sink:
            node.routes = [Route(OUT, None)]
    for node_id, writer in built.writers.items():
        collecting = _CollectingWriter(
            writer.sink,
            writer.retries,
            writer.base_delay,
            writer.dead_letter,
            writer.sleep,
            writer.stop_on_closed_output,
            writer.max_delay,
            writer.draw,
        )
        collecting.taken = []
        built.writers[node_id] = collecting
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
    if isinstance(target, Input):
        return _input_events(target, events)
    batch = _prepared(events)
    if isinstance(target, Sink):
        return _sink_failures(target, batch)
    if isinstance(target, Module):
        built = _pipelines.get(target)
        if built is None:  # made without build(): just the module's own work
            return target.process(batch)
        return _run_pipeline(built, batch, target.node_id)
    inputs = target.inputs
    return _run_pipeline(target, batch, entry or (inputs[0] if inputs else target.order[0]).id)


def _run_pipeline(built: Pipeline, batch: Batch, entry: str) -> Batch:
    writers = [w for w in built.writers.values() if isinstance(w, _CollectingWriter)]
    for writer in writers:
        writer.taken.clear()
    out = built.run_batch(entry, batch).get(OUT, [])
    return [event for writer in writers for event in writer.taken] + out


def _sink_failures(sink: Sink[Any], batch: Batch) -> Batch:
    built = _pipelines.get(sink)
    if built is not None:
        batch, _bypassed = built.nodes[sink.node_id].split_by_filter(batch)
    failed = []
    for failure in sink.write(batch):
        sink.fail(batch[failure.index], failure.error)
        failed.append(batch[failure.index])
    return failed


def _input_events(module: Input[Any], arrivals: list[Event]) -> Batch:
    """The events an input makes of what arrives: each given ``data`` is one read (stream
    inputs, one connection) or one datagram; a generating input (Spam) runs for real."""
    framing = module.framing
    if framing.kind == "events":
        pieces: list[Piece] = []

        async def collect(more: list[Piece], mark: object = None) -> None:
            pieces.extend(more)

        asyncio.run(module.serve(collect))
    elif framing.kind == "datagram":
        pieces = [Piece("test", _bytes(event), (len(_bytes(event)),)) for event in arrivals]
    else:
        cutter = module.cutter("test")
        pieces = [piece for event in arrivals for piece in cutter.feed(_bytes(event))]
        pieces += cutter.close()
    return decode_chunk(Chunk(module.node_id, module.name, framing, pieces)).events


def _bytes(event: Event) -> bytes:
    data = event.get(DATA, b"")
    return data if isinstance(data, bytes) else str(data).encode("utf-8", "surrogateescape")
