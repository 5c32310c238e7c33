"""Statistics: counts per value of each field, logged (and emitted) every interval."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from gp_celery.event import event_type
from gp_celery.testing import BuildError, build, run


def typed(name: str, **fields: Any) -> dict[str, Any]:
    return {"gambolputty": {"event_id": "x", "event_type": name}, **fields}


def report(module: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run the events through and tick past the interval; the emitted statistic events."""
    module.tick(1000.0)
    out = run(module, events)
    assert len(out) == len(events)
    return module.tick(1000.0 + module.options.interval)  # type: ignore[no-any-return]


def test_counts_each_event_type_by_default(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    module = build("Statistics", {"interval": 10})
    report(module, [typed("httpd")] * 3 + [{"data": "x"}])
    assert caplog.messages == ["Statistics: gambolputty.event_type in 10.0s: httpd=3, Unknown=1"]


def test_emits_one_statistic_event_per_field_and_value() -> None:
    module = build("Statistics", {"fields": ["code", "verb"], "emit_as_event": True})
    emitted = report(module, [{"code": 200, "verb": "GET"}, {"code": 404}, {"code": 200}])
    found = {(e["field_name"], e["field_value"]): e["field_count"] for e in emitted}
    assert found == {("code", "200"): 2, ("code", "404"): 1, ("verb", "GET"): 1}
    assert {event_type(e) for e in emitted} == {"statistic"}
    assert all(e["interval"] == 10 and e["interval_start"] % 10 == 0 for e in emitted)


def test_values_beyond_max_values_are_counted_as_other() -> None:
    module = build("Statistics", {"fields": ["n"], "max_values": 2, "emit_as_event": True})
    emitted = report(module, [{"n": n} for n in range(5)])
    assert {e["field_value"]: e["field_count"] for e in emitted} == {"0": 1, "1": 1, "(other)": 3}


@pytest.mark.parametrize(
    "value", [None, {"b": 1, "a": [2]}, b"\xff", "\udcff", 2**70, 1.5, "x" * 10_000]
)
def test_any_value_is_counted_and_nothing_raises(value: Any) -> None:
    module = build("Statistics", {"fields": ["v"], "emit_as_event": True})
    emitted = report(module, [{"v": value}, {"v": value}])
    assert [e["field_count"] for e in emitted] == [2]
    assert len(emitted[0]["field_value"]) <= 200


def test_the_counts_restart_each_interval_and_the_rest_is_logged_at_the_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    module = build("Statistics", {"fields": ["a"], "interval": 5})
    report(module, [{"a": 1}])
    run(module, [{"a": 2}])
    module.flush()
    assert caplog.messages[-1] == "Statistics: final: a in 5.0s: 2=1"


def test_an_empty_field_list_is_a_config_error() -> None:
    with pytest.raises(BuildError, match="fields"):
        build("Statistics", {"fields": []})
