from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gp_celery.event import errors_of
from gp_celery.testing import BuildError, build, run


def reasons(event: dict[str, Any]) -> list[str]:
    return [error["reason"] for error in errors_of(event)]


def parser(**options: Any) -> Any:
    return build("SyslogPrivalParser", options)


def test_spec_example_without_mapping_gives_numbers() -> None:
    [event] = run(parser(map_values=False), [{"syslog_prival": "13"}])
    assert (event["syslog_facility"], event["syslog_severity"]) == (1, 5)


def test_default_maps_numbers_to_names() -> None:
    [event] = run(parser(), [{"syslog_prival": "13"}])
    assert (event["syslog_facility"], event["syslog_severity"]) == ("user-level", "Notice")


def test_custom_mappings_merge_over_the_defaults() -> None:
    module = parser(facility_mappings={1: "PetShopBolton"}, severity_mappings={5: "Dead"})
    out = run(module, [{"syslog_prival": "13"}, {"syslog_prival": "165"}])
    assert [(e["syslog_facility"], e["syslog_severity"]) for e in out] == [
        ("PetShopBolton", "Dead"),
        ("local4", "Dead"),
    ]


@pytest.mark.parametrize("value", ["<13>", " <13> ", "13", " 13\n", 13, b"<13>", b"13"])
def test_angle_brackets_integers_and_bytes_decode(value: Any) -> None:
    [event] = run(parser(map_values=False), [{"syslog_prival": value}])
    assert (event["syslog_facility"], event["syslog_severity"]) == (1, 5)
    assert errors_of(event) == []


@pytest.mark.parametrize(("value", "facility", "severity"), [(0, 0, 0), (191, 23, 7), (8, 1, 0)])
def test_edges_of_the_range_decode(value: int, facility: int, severity: int) -> None:
    [event] = run(parser(map_values=False), [{"syslog_prival": value}])
    assert (event["syslog_facility"], event["syslog_severity"]) == (facility, severity)


def test_lumbermill_alias_and_other_source_field() -> None:
    module = build("parser.SyslogPrival", {"source_field": "pri"})
    [event] = run(module, [{"pri": "<34>"}])
    assert (event["syslog_facility"], event["syslog_severity"]) == (
        "security/authorization",
        "Critical",
    )


def test_missing_source_passes_untouched_and_is_counted() -> None:
    module = parser()
    [event] = run(module, [{"data": "x"}])
    assert "syslog_facility" not in event
    assert errors_of(event) == []
    assert module.stats.counts["missing_source"] == 1


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        pytest.param(192, "192 is outside 0..191", id="over-191"),
        pytest.param("<192>", "192 is outside 0..191", id="over-191-text"),
        pytest.param(-1, "-1 is outside 0..191", id="negative"),
        pytest.param("-1", "is not a syslog PRI value", id="negative-text"),
        pytest.param("<13", "is not a syslog PRI value", id="truncated"),
        pytest.param("<>", "is not a syslog PRI value", id="empty-brackets"),
        pytest.param("", "is not a syslog PRI value", id="empty"),
        pytest.param("1" * 100_000, "is not a syslog PRI value", id="oversize"),
        pytest.param("١٣", "is not a syslog PRI value", id="arabic-digits"),
        pytest.param("13.0", "is not a syslog PRI value", id="decimal"),
        pytest.param(b"<1\xff>", "is not a syslog PRI value", id="invalid-utf8"),
        pytest.param("\udcff", "is not a syslog PRI value", id="lone-surrogate"),
        pytest.param(13.0, "is float, not a syslog PRI value", id="float"),
        pytest.param(True, "is bool, not a syslog PRI value", id="bool"),
        pytest.param(None, "is NoneType, not a syslog PRI value", id="none"),
        pytest.param(["13"], "is list, not a syslog PRI value", id="list"),
    ],
)
def test_hostile_values_are_tagged_and_nothing_is_lost(value: Any, reason: str) -> None:
    out = run(parser(), [{"syslog_prival": value}, {"syslog_prival": "13"}])
    assert len(out) == 2
    assert reason in reasons(out[0])[0]
    assert "syslog_facility" not in out[0]
    assert out[0]["syslog_prival"] == value
    assert out[1]["syslog_severity"] == "Notice"


@pytest.mark.parametrize(
    "options", [{"facility_mappings": {"x": "y"}}, {"map_values": "maybe"}, {"sourcefield": "a"}]
)
def test_bad_options_are_refused_at_load(options: dict[str, Any]) -> None:
    with pytest.raises(BuildError):
        parser(**options)


MODULE = parser()


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=64), st.text(max_size=64), st.integers()))
def test_any_value_never_raises_and_every_event_comes_out(value: Any) -> None:
    out = run(MODULE, [{"syslog_prival": value}, {"data": "no source"}])
    assert len(out) == 2
    decoded = "syslog_facility" in out[0]
    assert decoded != bool(errors_of(out[0]))
