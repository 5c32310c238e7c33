from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gp_celery.event import errors_of
from gp_celery.testing import BuildError, build, run


def reasons(event: dict[str, Any]) -> list[str]:
    return [error["reason"] for error in errors_of(event)]


def parser(**options: Any) -> Any:
    defaults = {
        "source_field": "t",
        "source_date_pattern": "%Y-%m-%d %H:%M:%S",
        "target_date_pattern": "%Y-%m-%dT%H:%M:%S%z",
    }
    return build("DateTimeParser", {**defaults, **options})


def converted(value: str, **options: Any) -> Any:
    [event] = run(parser(**options), [{"t": value}])
    assert errors_of(event) == []
    return event["t"]


def test_lumbermill_test_reformats_in_place() -> None:
    module = build(
        "parser.DateTime",
        {
            "source_field": "date",
            "source_date_pattern": "%d/%b/%Y",
            "target_date_pattern": "%d-%b-%Y",
        },
    )
    [event] = run(module, [{"date": "13/Sep/2017"}])
    assert event["date"] == "13-Sep-2017"


def test_target_field_keeps_the_source() -> None:
    [event] = run(parser(target_field="@timestamp"), [{"t": "2024-01-02 03:04:05"}])
    assert (event["@timestamp"], event["t"]) == ("2024-01-02T03:04:05+0000", "2024-01-02 03:04:05")


def test_naive_times_are_read_in_the_source_zone_and_written_in_the_target_zone() -> None:
    options = {"source_timezone": "Europe/Berlin", "target_timezone": "America/New_York"}
    assert converted("2024-07-01 12:00:00", **options) == "2024-07-01T06:00:00-0400"
    assert converted("2024-01-01 12:00:00", **options) == "2024-01-01T06:00:00-0500"


def test_the_times_own_offset_wins_over_the_source_zone() -> None:
    value = converted(
        "28/Jul/2006:10:27:10 -0300",
        source_date_pattern="%d/%b/%Y:%H:%M:%S %z",
        source_timezone="Asia/Tokyo",
    )
    assert value == "2006-07-28T13:27:10+0000"


def test_utc_is_accepted_in_any_case() -> None:
    assert (
        converted("2024-01-02 03:04:05", source_timezone="UTC", target_timezone="Utc")[-5:]
        == "+0000"
    )


def test_an_ambiguous_local_time_is_read_as_the_earlier_one() -> None:
    value = converted("2024-10-27 02:30:00", source_timezone="Europe/Berlin")
    assert value == "2024-10-27T00:30:00+0000"


def test_repeated_strings_are_cached_up_to_cache_size() -> None:
    module = parser(cache_size=1)
    values = ["2024-01-02 03:04:05"] * 3 + ["bad", "bad"]
    out = run(module, [{"t": value} for value in values])
    assert [e["t"] for e in out[:3]] == ["2024-01-02T03:04:05+0000"] * 3
    assert all(errors_of(e) for e in out[3:])
    info = module._convert.cache_info()
    assert (info.hits, info.misses, info.currsize) == (3, 2, 1)


def test_missing_source_passes_untouched() -> None:
    module = parser()
    [event] = run(module, [{"other": 1}])
    assert errors_of(event) == []
    assert module.stats.counts["missing_source"] == 1


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        pytest.param("2024-13-01 00:00:00", "does not match", id="malformed"),
        pytest.param("2024-01-01 00:00", "does not match", id="truncated"),
        pytest.param("2024-01-01 00:00:00 extra", "does not match", id="trailing"),
        pytest.param("0001-01-01 00:00:00", "cannot be converted", id="out-of-range"),
        pytest.param("2" * 10_000, "is over 256 characters", id="oversize"),
        pytest.param(b"2024-01-01 \xff", "is not valid UTF-8", id="invalid-utf8"),
        pytest.param("2024-01-01 00:00:00\udcff", "does not match", id="lone-surrogate"),
        pytest.param(1704067200, "'t' is int, not text", id="int"),
        pytest.param(None, "'t' is NoneType, not text", id="none"),
        pytest.param(["2024"], "'t' is list, not text", id="list"),
    ],
)
def test_hostile_values_are_tagged_and_nothing_is_lost(value: Any, reason: str) -> None:
    options = {"source_timezone": "Europe/Berlin", "target_field": "out"}
    out = run(parser(**options), [{"t": value}, {"t": "2024-01-02 03:04:05"}])
    assert len(out) == 2
    assert reason in reasons(out[0])[0]
    assert out[0]["t"] == value
    assert "out" not in out[0]
    assert out[1]["out"] == "2024-01-02T02:04:05+0000"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"source_timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"target_timezone": "../../etc/passwd"}, "unknown time zone"),
        ({"source_date_pattern": "%Y-%Q"}, "bad time format"),
        ({"target_date_pattern": "%"}, "bad time format"),
        ({"cache_size": -1}, "cache_size"),
    ],
)
def test_bad_options_are_refused_at_load(options: dict[str, Any], message: str) -> None:
    with pytest.raises(BuildError, match=message):
        parser(**options)


@pytest.mark.parametrize("missing", ["source_field", "source_date_pattern", "target_date_pattern"])
def test_required_options(missing: str) -> None:
    options = {"source_field": "t", "source_date_pattern": "%Y", "target_date_pattern": "%Y"}
    del options[missing]
    with pytest.raises(BuildError, match=missing):
        build("DateTimeParser", options)


MODULE = parser(cache_size=8)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=100), st.text(max_size=100)))
def test_any_bytes_or_text_never_raise_and_every_event_comes_out(value: Any) -> None:
    out = run(MODULE, [{"t": value}, {"other": 1}])
    assert len(out) == 2


@settings(max_examples=200, deadline=None)
@given(st.datetimes(min_value=datetime(1900, 1, 1)))
def test_any_time_written_in_the_source_pattern_converts(moment: datetime) -> None:
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    [event] = run(MODULE, [{"t": text}])
    assert errors_of(event) == []
    assert event["t"] == moment.strftime("%Y-%m-%dT%H:%M:%S+0000")
