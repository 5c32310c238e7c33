"""SimpleStats: counts pass-through events, logs per interval, optionally emits statistics."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from gp_celery.event import event_type
from gp_celery.testing import BuildError, build, pipeline, run


def typed(name: str, **fields: Any) -> dict[str, Any]:
    return {"gambolputty": {"event_id": "x", "event_type": name}, **fields}


BATCH = [typed("httpd_access_log")] * 12 + [{"data": "unparsed"}] * 3


def test_events_pass_on_unchanged() -> None:
    events = [typed("a", data="x"), {"data": 1}]
    out = run(build("SimpleStats"), events)
    assert [e.get("data") for e in out] == ["x", 1]
    assert len(out) == len(events)


def test_logs_count_rate_and_types_every_interval(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    module = build("SimpleStats", {"interval": 10})
    module.tick(1000.0)
    run(module, BATCH)
    assert module.tick(1005.0) == []
    assert caplog.records == []
    module.tick(1010.0)
    assert caplog.messages == [
        "SimpleStats: 15 events in 10.0s (1.5/s); by type: httpd_access_log=12, Unknown=3"
    ]


def test_counters_restart_after_each_report(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    module = build("SimpleStats", {"interval": 1}, node_id="stats")
    module.tick(0.0)
    run(module, BATCH)
    module.tick(1.0)
    run(module, [typed("x")])
    module.tick(3.0)
    assert caplog.messages[-1] == "SimpleStats 'stats': 1 events in 2.0s (0.5/s); by type: x=1"


def test_parts_can_be_switched_off(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    module = build("SimpleStats", {"interval": 1, "event_type_statistics": False})
    module.tick(0.0)
    run(module, BATCH)
    module.tick(2.0)
    assert caplog.messages == ["SimpleStats: 15 events in 2.0s (7.5/s)"]


def test_emit_as_event_sends_statistic_events() -> None:
    module = build("SimpleStats", {"interval": 10, "emit_as_event": True})
    module.tick(0.0)
    run(module, BATCH)
    emitted = module.tick(10.0)
    assert all(event_type(event) == "statistic" for event in emitted)
    shown = [
        {k: e[k] for k in ("field_name", "field_count", "interval", "event_rate")} for e in emitted
    ]
    assert shown == [
        {"field_name": "events_received", "field_count": 15, "interval": 10, "event_rate": 1.5},
        {"field_name": "event_type_Unknown", "field_count": 3, "interval": 10, "event_rate": 0.3},
        {
            "field_name": "event_type_httpd_access_log",
            "field_count": 12,
            "interval": 10,
            "event_rate": 1.2,
        },
    ]


def test_close_logs_the_rest(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    module = build("SimpleStats")
    module.tick(0.0)
    run(module, [typed("a")])
    module.tick(4.0)
    module.close()
    assert caplog.messages == ["SimpleStats: final: 1 events in 4.0s (0.2/s); by type: a=1"]


def test_close_before_a_whole_tick_gives_no_rate(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    module = build("SimpleStats")
    run(module, [typed("a")])
    module.close()
    assert caplog.messages == ["SimpleStats: final: 1 events; by type: a=1"]


def test_close_without_events_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    build("SimpleStats").close()
    assert caplog.messages == []


def test_odd_event_types_and_metadata_are_counted() -> None:
    module = build("SimpleStats", {"interval": 1, "emit_as_event": True})
    module.tick(0.0)
    module.process([{"gambolputty": "not a dict"}, typed(7), typed("ü")])  # type: ignore[arg-type]
    names = [e["field_name"] for e in module.tick(1.0)]
    assert names == ["events_received", "event_type_7", "event_type_Unknown", "event_type_ü"]


def test_waiting_event_statistics_is_accepted() -> None:
    build("SimpleStats", {"waiting_event_statistics": True})


@pytest.mark.parametrize("interval", [0, -1, "often"])
def test_bad_interval_is_a_load_error(interval: Any) -> None:
    with pytest.raises(BuildError, match="interval"):
        build("SimpleStats", {"interval": interval})


def test_in_a_pipeline_statistics_reach_the_next_node(tmp_path: Path) -> None:
    config = tmp_path / "p.yml"
    out_file = tmp_path / "stats.log"
    config.write_text(
        "- misc.SimpleStats:\n"
        "   interval: 1\n"
        "   emit_as_event: true\n"
        "- FileSink:\n"
        f"   file_name: {out_file}\n"
        "   format: $(field_name)=$(field_count)\n"
    )
    built = pipeline(config)
    built.tick(0.0)
    run(built, [{"data": "a"}, {"data": "b"}])
    built.tick(1.5)
    built.close()
    assert "events_received=2" in out_file.read_text().splitlines()
