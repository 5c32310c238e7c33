"""Replay records through the current config, from the node that set them aside.

The events go through a pipeline built in this process from the current config (no
inputs), entering at the record's node: a sink that failed gets them again, a parked
chunk runs through its whole stage and on. The pipeline dead-letters what fails again into
the same store, so a record is removed only after its events were written (or dropped by
the config's own rules) or dead-lettered anew: a replay loses nothing. A replay that stops
half-way (a crash, SIGKILL) removes nothing; replaying again may write some events twice,
which sinks keyed on the event id absorb.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from gp_celery.broker.letters import Letter, LetterStore, Stored
from gp_celery.config import PipelineConfig
from gp_celery.event import ERRORS, META, Batch, metadata
from gp_celery.modules.base import ModuleContext
from gp_celery.pipeline import Pipeline

log = logging.getLogger(__name__)


@dataclass
class ReplayPlan:
    """What a replay would do: the records it runs, and those it leaves, with why."""

    runnable: list[Stored] = field(default_factory=list)
    left: list[tuple[Stored, str]] = field(default_factory=list)

    @property
    def events(self) -> int:
        return sum(len(record.letter.events) for record in self.runnable if record.letter)


@dataclass
class ReplayOutcome:
    records: int
    events: int
    written: Counter[str]
    """Events each sink wrote."""
    dead_lettered: int
    """Events that failed again and went back to the dead letters (as new records)."""
    removed: int


def plan_replay(config: PipelineConfig, records: list[Stored]) -> ReplayPlan:
    """Split records into those the current config can replay and those it cannot."""
    plan = ReplayPlan()
    known = {node.id for node in config.nodes}
    for record in records:
        letter = record.letter
        if letter is None:
            plan.left.append((record, record.problem))
        elif letter.node not in known:
            plan.left.append((record, f"node '{letter.node}' is not in the current config"))
        else:
            plan.runnable.append(record)
    return plan


def replay_events(letter: Letter) -> Batch:
    """The letter's events as they were before they were set aside: a sink's failure tag
    (the last error its node added) is taken off, so an event that is written now does
    not carry an old error, and one that fails again carries only the new one."""
    events = letter.events
    for event in events:
        metadata(event)
        if letter.kind != "failed":
            continue
        errors = event[META].get(ERRORS)
        if isinstance(errors, list):
            mine = [
                i
                for i, e in enumerate(errors)
                if isinstance(e, dict) and e.get("node") == letter.node
            ]
            if mine:
                del errors[mine[-1]]
            if not errors:
                del event[META][ERRORS]
    return events


def _batches(records: list[Stored], size: int) -> Iterator[tuple[str, Batch]]:
    """Consecutive records of one node, ``size`` events at most (a record's events are
    never split): a sink gets the bulk writes it would have had, not one per event."""
    node = ""
    batch: Batch = []
    for record in records:
        assert record.letter is not None  # plan_replay keeps only readable records
        events = replay_events(record.letter)
        if batch and (record.letter.node != node or len(batch) + len(events) > size):
            yield node, batch
            batch = []
        node = record.letter.node
        batch.extend(events)
    if batch:
        yield node, batch


def replay(
    config: PipelineConfig,
    store: LetterStore,
    plan: ReplayPlan,
    context: ModuleContext | None = None,
) -> ReplayOutcome:
    """Run the plan's records; remove them once every event is written or set aside again."""
    pipeline = Pipeline(config, letters=store, context=context, with_inputs=False)
    try:
        for entry, events in _batches(plan.runnable, config.settings.batch_size):
            pipeline.run_batch(entry, events)
        pipeline.tick(time.monotonic(), final=True)  # what modules hold goes on, now
    finally:
        pipeline.close()
    counters = pipeline.counters()
    written: Counter[str] = Counter()
    for node in pipeline.order:
        if node.is_sink and counters[node.id]["events_out"]:
            written[node.id] = counters[node.id]["events_out"]
    dead = sum(counts["dead_lettered"] for counts in counters.values())
    removed = store.remove(plan.runnable)
    if removed < len(plan.runnable):
        log.warning(
            "%d of the %d replayed records were gone before the replay removed them "
            "(another replay or purge at the same time?).",
            len(plan.runnable) - removed,
            len(plan.runnable),
        )
    return ReplayOutcome(len(plan.runnable), plan.events, written, dead, removed)
