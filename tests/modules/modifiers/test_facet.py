"""Facet in one process: events pass on, each interval's distinct values per group become
summary events; bad values are tagged, nothing is lost, the buffers are bounded."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gp_celery.event import Event, errors_of, event_type
from gp_celery.testing import BuildError, build, run


def facet(**options: Any) -> Any:
    return build(
        "Facet", {"source_field": "url", "group_by": "$(remote_ip)", "interval": 60, **options}
    )


def reasons(event: Event) -> list[str]:
    return [error["reason"] for error in errors_of(event)]


LUMBERMILL_EVENTS: list[Event] = [
    {"url": "http://www.google.com", "remote_ip": "127.0.0.1", "user_agent": "Eric"},
    {"url": "http://www.google.com", "remote_ip": "127.0.0.1", "user_agent": "Eric"},
    {"url": "http://www.johann.com", "remote_ip": "127.0.0.1", "user_agent": "Graham"},
    {"url": "http://www.lumbermill.com", "remote_ip": "127.0.0.2", "user_agent": "John"},
]


def test_events_pass_on_unchanged() -> None:
    out = run(facet(), LUMBERMILL_EVENTS)
    assert [{k: v for k, v in e.items() if k != "gambolputty"} for e in out] == LUMBERMILL_EVENTS
    assert all(errors_of(event) == [] for event in out)


def test_lumbermill_test_case_gives_one_summary_per_group() -> None:
    module = facet(add_event_fields=["remote_ip", "user_agent"])
    run(module, LUMBERMILL_EVENTS)
    summaries = module.flush()
    assert [event_type(event) for event in summaries] == ["facet", "facet"]
    first, second = summaries
    assert first["facet_group"] == "127.0.0.1"
    assert first["facets"] == ["http://www.google.com", "http://www.johann.com"]
    assert first["facet_count"] == 2
    assert first["facet_field"] == "url"
    assert second["facets"] == ["http://www.lumbermill.com"]
    assert second["other_event_fields"]["http://www.lumbermill.com"] == {
        "user_agent": "John",
        "remote_ip": "127.0.0.2",
    }
    assert first["other_event_fields"]["http://www.google.com"] == {
        "user_agent": "Eric",
        "remote_ip": "127.0.0.1",
    }
    assert module.flush() == []  # reported once


def test_without_add_event_fields_there_is_no_other_event_fields() -> None:
    module = facet()
    run(module, LUMBERMILL_EVENTS[:1])
    [summary] = module.flush()
    assert "other_event_fields" not in summary


def test_a_tick_after_the_interval_ends_emits_its_summaries() -> None:
    module = facet(interval=0.3)
    run(module, LUMBERMILL_EVENTS)
    time.sleep(0.65)  # the batch's interval (aligned to the wall clock) has ended
    emitted = module.tick(time.monotonic())
    emitted += module.flush()
    facets = sorted(value for summary in emitted for value in summary["facets"])
    assert facets == ["http://www.google.com", "http://www.johann.com", "http://www.lumbermill.com"]
    assert module.tick(time.monotonic()) == []


def test_summaries_go_through_the_pipeline_at_the_end_of_an_embedded_run(tmp_path: Any) -> None:
    """A run's last, partial interval is summarised when the input ends (flush)."""
    import subprocess
    import sys

    import orjson

    out = tmp_path / "out.jsonl"
    config = tmp_path / "pipeline.yml"
    config.write_text(
        "- StdIn\n"
        "- RegexParser:\n"
        "    field_extraction_patterns:\n"
        "      - web: '(?P<ip>\\S+) (?P<url>\\S+)'\n"
        "- Facet:\n"
        "    source_field: url\n"
        "    group_by: $(ip)\n"
        "    interval: 3600\n"
        f"- FileSink:\n    file_name: {out}\n    json_lines: true\n"
    )
    lines = "1.1.1.1 /a\n1.1.1.1 /b\n1.1.1.1 /a\n2.2.2.2 /c\n"
    result = subprocess.run(
        [sys.executable, "-m", "gp_celery.cli", "run", "-c", str(config)],
        input=lines,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    events = [orjson.loads(row) for row in out.read_text().splitlines()]
    assert len(events) == 6
    summaries = {e["facet_group"]: e["facets"] for e in events if "facet_group" in e}
    assert summaries == {"1.1.1.1": ["/a", "/b"], "2.2.2.2": ["/c"]}


def test_missing_source_or_group_is_not_counted_and_not_tagged() -> None:
    module = facet()
    out = run(module, [{"remote_ip": "1.1.1.1"}, {"url": "/a"}, {"url": "/b", "remote_ip": ""}])
    assert all(errors_of(event) == [] for event in out)
    assert module.flush() == []
    assert module.stats.counts["missing_source"] == 1
    assert module.stats.counts["no_group"] == 2


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (["a"], "'url' is a list, not text, a number or null"),
        ({"a": 1}, "'url' is a dict, not text, a number or null"),
        (b"\xff\xfe", "'url' is a bytes, not text, a number or null"),
        ("\udcff", "'url' cannot be kept"),
        (2**70, "'url' cannot be kept"),
        ("x" * 5000, "'url' is longer than 4096 bytes"),
    ],
    ids=["list", "dict", "bytes", "surrogate", "bigint", "oversize"],
)
def test_values_that_cannot_be_facets_are_tagged_and_the_event_goes_on(
    value: Any, reason: str
) -> None:
    module = facet()
    [out] = run(module, [{"url": value, "remote_ip": "1.1.1.1"}])
    assert len(reasons(out)) == 1
    assert reasons(out)[0].startswith(reason)
    assert out["url"] == value
    assert module.flush() == []


@pytest.mark.parametrize("value", [None, 0, -1.5, True, "", "ünï©ødé ✓"])
def test_scalars_are_facets(value: Any) -> None:
    module = facet()
    run(module, [{"url": value, "remote_ip": "1.1.1.1"}])
    [summary] = module.flush()
    assert summary["facets"] == [value]


def test_max_groups_bounds_the_groups_and_tags_the_rest() -> None:
    module = facet(max_groups=2)
    events: list[Event] = [{"url": "/", "remote_ip": f"10.0.0.{n}"} for n in range(4)]
    out = run(module, events)
    assert len(out) == 4
    assert [len(errors_of(event)) for event in out] == [0, 0, 1, 1]
    assert "more than max_groups (2)" in reasons(out[2])[0]
    assert len(module.flush()) == 2


def test_max_values_per_group_bounds_the_values_and_tags_the_rest() -> None:
    module = facet(max_values_per_group=2)
    events: list[Event] = [{"url": f"/{n}", "remote_ip": "1.1.1.1"} for n in range(3)]
    events.append({"url": "/0", "remote_ip": "1.1.1.1"})  # already counted: fine
    out = run(module, events)
    assert [len(errors_of(event)) for event in out] == [0, 0, 1, 0]
    [summary] = module.flush()
    assert summary["facets"] == ["/0", "/1"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"interval": 0}, "interval"),
        ({"max_groups": 0}, "max_groups"),
        ({"group_by": "$(unclosed"}, "group_by"),
        ({"add_event_fields": ["a..b"]}, "add_event_fields"),
        ({"backend": "RedisStore"}, "backend"),
    ],
)
def test_bad_options_are_refused_at_load(options: dict[str, Any], message: str) -> None:
    with pytest.raises(BuildError, match=message):
        facet(**options)


def test_a_redis_store_that_names_no_store_node_is_a_config_error() -> None:
    with pytest.raises(BuildError, match="redis_store: unknown store 'RedisStore'"):
        facet(redis_store="RedisStore", redis_ttl=30)


def test_lumbermill_alias() -> None:
    module = build("modifier.Facet", {"source_field": "a", "group_by": "$(b)"})
    assert type(module).__name__ == "Facet"


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(max_size=10),
            st.integers(),
            st.none(),
            st.binary(max_size=5),
            st.lists(st.integers(), max_size=2),
        ),
        max_size=10,
    )
)
def test_every_event_passes_and_every_counted_value_is_summarised(values: list[Any]) -> None:
    module = facet(max_values_per_group=5)
    events: list[Event] = [{"url": value, "remote_ip": "1.1.1.1"} for value in values]
    out = run(module, events)
    assert len(out) == len(events)
    summaries = module.flush()
    counted = [e["url"] for e in out if not errors_of(e)]
    facets = summaries[0]["facets"] if summaries else []
    assert len(facets) <= 5
    assert all(value in counted for value in facets)
