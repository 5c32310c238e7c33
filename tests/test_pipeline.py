"""The runner: routing, filters, node keys, fan-out copies, counters, failures, dead letters."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest

from gp_celery.config import parse_config
from gp_celery.event import Batch, errors_of
from gp_celery.modules.base import Failure, Modifier, NoOptions, Sink
from gp_celery.modules.registry import register
from gp_celery.pipeline import Pipeline
from gp_celery.testing import pipeline, run


@register
class ExplodingModifier(Modifier[NoOptions]):
    """Test plugin: raises on every batch, to exercise the runner's error isolation."""

    def process(self, events: Batch) -> Batch:
        raise RuntimeError("boom")


@register
class FlakySink(Sink[NoOptions]):
    """Test plugin: the first write fails retriably for odd items; 'poison' never succeeds."""

    written: ClassVar[list[Any]] = []
    attempts: ClassVar[int] = 0

    def write(self, events: Batch) -> list[Failure]:
        type(self).attempts += 1
        failures = []
        for index, event in enumerate(events):
            if event["data"] == "poison":
                failures.append(Failure(index, "poisoned", retriable=False))
            elif type(self).attempts == 1 and index % 2:
                failures.append(Failure(index, "busy", retriable=True))
            else:
                type(self).written.append(event["data"])
        return failures


def build(text: str, tmp_path: Path | None = None) -> Pipeline:
    config = parse_config(textwrap.dedent(text).lstrip("\n"), "p.yml", {})
    if tmp_path is not None:
        config.settings = config.settings.model_copy(
            update={"dead_letter_file": str(tmp_path / "dead.jsonl"), "sink_retry_base_secs": 0.001}
        )
    return pipeline(config)


def events(*data: str) -> list[dict[str, Any]]:
    return [{"data": item} for item in data]


def test_default_receiver_is_the_next_entry_and_sinks_collect() -> None:
    p = build("""
        - StdIn
        - DropEvent:
            filter: $(data) == 'drop me'
        - DevNullSink
        """)
    out = run(p, events("keep", "drop me", "keep too"))
    assert [e["data"] for e in out] == ["keep", "keep too"]
    counters = p.counters()
    assert counters["DropEvent"]["events_in"] == 3
    assert counters["DropEvent"]["dropped"] == 1
    assert counters["DropEvent"]["bypassed"] == 2
    assert counters["DevNullSink"]["events_out"] == 2


def test_input_filter_bypasses_without_node_keys() -> None:
    p = build("""
        - StdIn
        - DropEvent:
            id: tagger
            filter: $(data) == 'never'
            add_fields: {touched: 'yes'}
        - DevNullSink
        """)
    out = run(p, events("a"))
    assert "touched" not in out[0]


def test_node_keys_apply_in_order_with_templates() -> None:
    p = build("""
        - StdIn:
            add_fields: {copy: '$(data)', 'nested.key': 'x-$(data)'}
            delete_fields: [remove_me]
            event_type: 'type-$(data)'
        - DevNullSink
        """)
    out = run(p, [{"data": "v", "remove_me": 1}])
    assert out[0]["copy"] == "v"
    assert out[0]["nested"] == {"key": "x-v"}
    assert "remove_me" not in out[0]
    assert out[0]["gambolputty"]["event_type"] == "type-v"


def test_output_filters_route_and_fan_out_copies_with_derived_ids() -> None:
    p = build("""
        - StdIn:
            receivers:
             - DevNullSink
             - DevNullSink_1:
                 filter: $(data) == 'both'
        - DevNullSink
        - DevNullSink
        """)
    out = run(p, events("one", "both"))
    assert sorted(e["data"] for e in out) == ["both", "both", "one"]
    both = [e for e in out if e["data"] == "both"]
    assert both[0] is not both[1]
    ids = sorted(e["gambolputty"]["event_id"] for e in both)
    assert ids[1] == ids[0] + ".1"
    assert p.counters()["DevNullSink_1"]["events_in"] == 1


def test_output_filter_rejecting_all_receivers_counts_a_drop() -> None:
    p = build("""
        - StdIn:
            receivers:
             - DevNullSink:
                 filter: $(data) == 'x'
        - DevNullSink
        """)
    out = run(p, events("x", "y"))
    assert [e["data"] for e in out] == ["x"]
    assert p.counters()["StdIn"]["dropped"] == 1


def test_a_raising_module_tags_the_batch_and_the_pipeline_goes_on() -> None:
    p = build("""
        - StdIn
        - ExplodingModifier
        - DevNullSink
        """)
    out = run(p, events("a", "b"))
    assert len(out) == 2
    for event in out:
        assert errors_of(event) == [{"node": "ExplodingModifier", "reason": "RuntimeError: boom"}]
    assert p.counters()["ExplodingModifier"]["failed"] == 2


def test_sink_retries_retriable_items_and_dead_letters_the_rest(tmp_path: Path) -> None:
    FlakySink.written.clear()
    FlakySink.attempts = 0
    p = build(
        """
        - StdIn
        - FlakySink
        """,
        tmp_path,
    )
    run(p, events("a", "b", "poison", "d"))
    assert sorted(FlakySink.written) == ["a", "b", "d"]
    lines = (tmp_path / "dead.jsonl").read_bytes().splitlines()
    assert len(lines) == 1
    letter = orjson.loads(lines[0])
    assert (letter["kind"], letter["node"], letter["error"]) == ("failed", "FlakySink", "poisoned")
    (dead,) = letter["events"]
    assert dead["data"] == "poison"
    assert errors_of(dead) == [{"node": "FlakySink", "reason": "poisoned"}]
    counters = p.counters()["FlakySink"]
    assert counters["events_out"] + counters["dead_lettered"] == 4


def test_nothing_is_lost_across_a_branching_pipeline() -> None:
    p = build("""
        - StdIn:
            receivers:
             - DropEvent:
                 filter: $(data) == 'drop'
             - DevNullSink:
                 filter: $(data) != 'drop'
        - DropEvent
        - DevNullSink
        """)
    data = [f"line {n}" for n in range(50)] + ["drop"] * 5
    out = run(p, events(*data))
    counters = p.counters()
    assert len(out) == 50
    assert counters["DropEvent"]["dropped"] == 5
    assert counters["StdIn"]["events_in"] == counters["StdIn"]["events_out"] == 55


@pytest.mark.parametrize("count", [1, 499, 500, 1234])
def test_batches_of_any_size_arrive_whole(count: int) -> None:
    p = build("""
        - StdIn
        - DevNullSink
        """)
    assert len(run(p, events(*(str(n) for n in range(count))))) == count
