"""A config's pipeline run in this process with its sinks left out: what reaches a sink is
captured, never written, so a test or a sample run touches no file, index or server.

The runner is the real one (``Pipeline``: filters, node keys, routes, ticks); it is just
not given the sink nodes, so events bound for them come back from ``run_batch`` as for a
node it does not hold. A sink's own input filter is applied here, as the runner would. A
node that ends a branch (no receivers, not a sink) gets a route to a marker id no config
can have, so its events come back the same way.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any, Final

from gp_celery.broker.letters import Letter
from gp_celery.config import PipelineConfig
from gp_celery.event import DATA, Batch, Event, metadata
from gp_celery.modules.base import Input
from gp_celery.pipeline import Pipeline
from gp_celery.pipeline.graph import Crossing
from gp_celery.pipeline.node import Route
from gp_celery.testing import run

END: Final = "\x00end:"
"""Prefix of the marker a branch's last node sends to (followed by its id)."""


class RawInputError(ValueError):
    """Raw records cannot go in where the case says (an input that generates events)."""


@dataclass
class Arrival:
    node: str
    """The sink, or last node of a branch, the event reached."""
    event: Event


class _NoLetters:
    """No sink is built, so nothing can be dead-lettered; kept anyway, never written."""

    def __init__(self) -> None:
        self.kept: list[Letter] = []

    def send(self, letters: list[Letter]) -> None:
        self.kept.extend(letters)


class Harness:
    """One isolated run of a config: build (setup every node but the sinks), run, finish."""

    def __init__(self, config: PipelineConfig) -> None:
        self.config = config
        specs = [spec for spec in config.order if spec.family != "sink"]
        self.pipeline = Pipeline(config, specs, letters=_NoLetters())
        for node in self.pipeline.order:
            if not node.routes:
                node.routes = [Route(END + node.id, None)]
        self.sinks = {spec.id: spec for spec in config.order if spec.family == "sink"}
        self._position = {spec.id: spec.index for spec in config.order}
        self._arrived: list[tuple[int, int, Arrival]] = []

    @property
    def default_entry(self) -> str:
        """The first input, else the first node."""
        inputs = [node.id for node in self.pipeline.inputs]
        return inputs[0] if inputs else self.config.order[0].id

    def events_from_raw(self, entry: str, raw: str | bytes | list[str | bytes]) -> Batch:
        """The events ``raw`` makes where it enters: cut by an input's framing, else lines."""
        records = raw if isinstance(raw, list) else None
        node = self.pipeline.nodes.get(entry)
        module = node.module if node is not None else None
        if not isinstance(module, Input):
            texts = [_text(item) for item in records] if records is not None else None
            lines = texts if texts is not None else _text(raw).splitlines()
            return [{DATA: line} for line in lines]
        framing = module.framing
        if framing.kind == "events":
            raise RawInputError(f"input '{entry}' generates its own events; give 'events'")
        if records is None:
            arrivals = [{DATA: raw}]
        elif framing.kind in ("line", "syslog", "multiline") and framing.regex is None:
            ending = framing.separator.encode()
            arrivals = [{DATA: b"".join(_bytes(item) + ending for item in records)}]
        else:
            arrivals = [{DATA: item} for item in records]
        return run(module, arrivals)

    def run(self, entry: str, events: Batch) -> None:
        """Run ``events`` (copied; metadata added) in at node ``entry``."""
        batch = copy.deepcopy(events)
        for event in batch:
            metadata(event)
        self._collect(self.pipeline.run_batch(entry, batch))

    def finish(self) -> list[Arrival]:
        """Flush what modules hold (the end of a run), close them; everything that came out,
        by node in the config's order, then in order of arrival."""
        try:
            self._collect(self.pipeline.tick(time.monotonic(), final=True))
        finally:
            self.pipeline.close()
        return [arrival for _, _, arrival in sorted(self._arrived, key=lambda x: x[:2])]

    def _collect(self, crossing: Crossing) -> None:
        for target, reached in crossing.items():
            node_id = target.removeprefix(END)
            spec = self.sinks.get(node_id)
            flt = spec.filter if spec is not None else None
            position = self._position.get(node_id, len(self._position))
            for event in reached if flt is None else filter(flt, reached):
                self._arrived.append((position, len(self._arrived), Arrival(node_id, event)))


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")
