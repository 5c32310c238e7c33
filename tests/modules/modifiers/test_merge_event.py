"""MergeEvent in one process: consecutive events of a stream become one; buffers are bounded
and merged by pattern, size, age, key count and at the end of the run; nothing is lost."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gp_celery.event import Event, errors_of
from gp_celery.testing import BuildError, build, run

TRACE = ["Traceback (most recent call last):", "  File 'x.py', line 1", "ValueError: boom"]


def merge(**options: Any) -> Any:
    return build("MergeEvent", {"pattern": r"^\S", "glue": "\n", **options})


def data(events: list[Event]) -> list[Any]:
    return [event.get("data") for event in events]


def test_pattern_marks_the_start_of_an_event_and_continuation_lines_join_it() -> None:
    module = merge()
    out = run(module, [{"data": text} for text in ["A", " a1", " a2", "B", " b1", "C"]])
    assert data(out) == ["A\n a1\n a2", "B\n b1"]
    assert data(module.flush()) == ["C"]


def test_merged_event_keeps_the_first_events_fields_and_id() -> None:
    module = merge()
    given_events: list[Event] = [
        {"data": "A", "n": 1, "gambolputty": {"event_id": "first"}},
        {"data": " a1", "n": 2, "gambolputty": {"event_id": "second"}},
        {"data": "B", "n": 3},
    ]
    [out] = run(module, given_events)
    assert (out["data"], out["n"], out["gambolputty"]["event_id"]) == ("A\n a1", 1, "first")


def test_a_line_without_an_open_event_goes_on_as_it_is() -> None:
    out = run(merge(), [{"data": " orphan"}, {"data": " another"}])
    assert data(out) == [" orphan", " another"]


def test_end_of_event_pattern_closes_the_buffer() -> None:
    module = merge(pattern=r";$", pattern_marks="EndOfEvent", glue=" ")
    out = run(module, [{"data": t} for t in ["SELECT *", "FROM t;", "SELECT 1;", "UPDATE"]])
    assert data(out) == ["SELECT * FROM t;", "SELECT 1;"]
    assert data(module.flush()) == ["UPDATE"]


def test_streams_are_merged_per_buffer_key() -> None:
    module = merge(buffer_key="$(host)")
    events: list[Event] = [
        {"host": "a", "data": "A"},
        {"host": "b", "data": "B"},
        {"host": "a", "data": " a1"},
        {"host": "b", "data": " b1"},
        {"host": "a", "data": "A2"},
    ]
    assert data(run(module, events)) == ["A\n a1"]
    assert sorted(data(module.flush())) == ["A2", "B\n b1"]


def test_default_key_is_the_stream_the_events_came_from() -> None:
    module = merge()
    events: list[Event] = [
        {"data": "A", "gambolputty": {"received_from": "10.0.0.1:5000"}},
        {"data": "B", "gambolputty": {"received_from": "10.0.0.2:5000"}},
        {"data": " a1", "gambolputty": {"received_from": "10.0.0.1:5000"}},
    ]
    assert run(module, events) == []
    assert sorted(data(module.flush())) == ["A\n a1", "B"]


def test_without_pattern_every_event_of_a_key_joins_until_the_buffer_is_full() -> None:
    module = build("MergeEvent", {"buffer_size": 3, "glue": "|"})
    out = run(module, [{"data": str(n)} for n in range(7)])
    assert data(out) == ["0|1|2", "3|4|5"]
    assert data(module.flush()) == ["6"]


def test_a_buffer_older_than_the_flush_interval_is_merged_on_tick() -> None:
    module = merge(flush_interval_in_secs=1.0)  # a slow machine still ticks within it
    assert run(module, [{"data": "A"}, {"data": " a1"}]) == []
    assert module.tick(time.monotonic()) == []
    time.sleep(1.05)
    assert data(module.tick(time.monotonic())) == ["A\n a1"]
    assert module.flush() == []


def test_max_keys_merges_the_longest_unused_buffer_first() -> None:
    module = merge(buffer_key="$(host)", max_keys=2)
    events: list[Event] = [
        {"host": "a", "data": "A"},
        {"host": "b", "data": "B"},
        {"host": "a", "data": " a1"},
        {"host": "c", "data": "C"},
    ]
    assert data(run(module, events)) == ["B"]
    assert module.stats.counts["merged_for_max_keys"] == 1
    assert sorted(data(module.flush())) == ["A\n a1", "C"]


def test_a_missing_match_field_goes_on_and_is_counted() -> None:
    module = merge()
    out = run(module, [{"other": 1}])
    assert out[0]["other"] == 1
    assert errors_of(out[0]) == []
    assert module.stats.counts["missing_source"] == 1


@pytest.mark.parametrize(
    "value", [None, 5, 1.5, True, [], ["a"], {"k": "v"}, b"\xff\xfe"], ids=lambda v: repr(v)[:10]
)
def test_a_match_field_that_is_not_text_is_tagged_and_goes_on(value: Any) -> None:
    module = merge()
    out = run(module, [{"data": "A"}, {"data": value}, {"data": " a1"}])
    assert len(out) == 1
    assert out[0]["data"] == value
    assert "'data' is a" in errors_of(out[0])[0]["reason"]
    assert data(module.flush()) == ["A\n a1"]


@pytest.mark.parametrize(
    "text", ["", "\udcff lone surrogate", "ünï©ødé ✓ 🎉", "x" * 1_000_000, "\x00\n\r"]
)
def test_odd_text_is_merged_like_any_other(text: str) -> None:
    module = merge()
    run(module, [{"data": "A"}, {"data": " " + text}])
    assert data(module.flush()) == ["A\n " + text]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"flush_interval_in_secs": None}, "set 'pattern' or 'flush_interval_in_secs'"),
        ({"pattern_marks": "EndOfEvent"}, "'pattern_marks: EndOfEvent' needs 'pattern'"),
        ({"pattern": "(", "flush_interval_in_secs": 1}, "bad regular expression"),
        ({"buffer_size": 0}, "buffer_size"),
        ({"max_keys": 0}, "max_keys"),
        ({"pattern_marks": "Middle", "pattern": "x"}, "pattern_marks"),
    ],
)
def test_bad_options_are_refused_at_load(options: dict[str, Any], message: str) -> None:
    with pytest.raises(BuildError, match=message):
        build("MergeEvent", options)


def test_lumbermill_alias() -> None:
    assert type(build("modifier.MergeEvent", {"pattern": "x"})).__name__ == "MergeEvent"


def test_an_embedded_run_hands_on_the_last_buffer_when_the_input_ends(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    config = tmp_path / "pipeline.yml"
    config.write_text(
        "- StdIn\n"
        "- MergeEvent:\n"
        "    pattern: '^\\S'\n"
        "    flush_interval_in_secs: 3600\n"
        f"- FileSink:\n    file_name: {out}\n    json_lines: true\n"
    )
    text = "".join(f"{line}\n" for line in TRACE * 2)
    result = subprocess.run(
        [sys.executable, "-m", "gp_celery.cli", "run", "-c", str(config)],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    events = [orjson.loads(row) for row in out.read_text().splitlines()]
    # StdIn keeps each line's newline (as GambolPutty's did), so the default glue '' fits.
    assert [event["data"] for event in events] == [
        "Traceback (most recent call last):\n  File 'x.py', line 1\n",
        "ValueError: boom\n",
        "Traceback (most recent call last):\n  File 'x.py', line 1\n",
        "ValueError: boom\n",
    ]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.one_of(st.text(max_size=8), st.none(), st.integers(), st.binary(max_size=3))),
    st.integers(min_value=1, max_value=4),
)
def test_every_line_comes_out_once_in_order(values: list[Any], buffer_size: int) -> None:
    module = merge(buffer_size=buffer_size, glue="\x00")
    events: list[Event] = [{"data": value} for value in values]
    out = run(module, events) + module.flush()
    pieces: list[Any] = []
    for event in out:
        if isinstance(event["data"], str) and not errors_of(event):
            pieces.extend(event["data"].split("\x00"))
        else:
            pieces.append(event["data"])
    expected = [v for v in values if not isinstance(v, str) or "\x00" not in v]
    if len(expected) == len(values):
        assert sorted(map(repr, pieces)) == sorted(map(repr, values))
