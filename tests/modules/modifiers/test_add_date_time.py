"""AddDateTime: current UTC time, or the log's own time parsed and re-formatted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gp_celery.event import errors_of
from gp_celery.testing import BuildError, build, run


def _close_to_now(stamp: str, fmt: str) -> bool:
    parsed = datetime.strptime(stamp, fmt).replace(tzinfo=UTC)
    return abs(datetime.now(UTC) - parsed) < timedelta(seconds=5)


def test_default_writes_utc_now_to_timestamp_without_zone() -> None:
    [out] = run(build("AddDateTime"), [{"data": "x"}])
    assert _close_to_now(out["@timestamp"], "%Y-%m-%dT%H:%M:%S")
    assert len(out["@timestamp"]) == 19


def test_seed_readme_config_with_microseconds() -> None:
    options = {"format": "%Y-%m-%dT%H:%M:%S.%f", "target_field": "@timestamp"}
    out = run(build("AddDateTime", options), [{}, {}])
    assert all(_close_to_now(event["@timestamp"], "%Y-%m-%dT%H:%M:%S.%f") for event in out)


def test_literal_z_gives_iso_8601_utc() -> None:
    [out] = run(build("AddDateTime", {"format": "%Y-%m-%dT%H:%M:%SZ"}), [{}])
    assert out["@timestamp"].endswith("Z")


def test_whole_second_formats_are_made_once_per_second() -> None:
    module = build("AddDateTime")
    out = run(module, [{}, {}])
    assert out[0]["@timestamp"] == out[1]["@timestamp"] == module._stamp


def test_nested_target_field_is_created() -> None:
    [out] = run(build("AddDateTime", {"target_field": "meta.time"}), [{}])
    assert "time" in out["meta"]


def test_unwritable_nested_target_is_tagged() -> None:
    [out] = run(build("AddDateTime", {"target_field": "l.3"}), [{"l": []}])
    assert errors_of(out)


def _parser(**extra: Any) -> Any:
    options = {
        "source_fields": ["datetime", "ts"],
        "source_formats": ["%d/%b/%Y:%H:%M:%S %z", "%Y-%m-%d %H:%M:%S"],
    }
    return build("AddDateTime", {**options, **extra})


def test_log_time_with_zone_is_converted_to_utc() -> None:
    [out] = run(_parser(), [{"datetime": "28/Jul/2006:10:27:10 -0300"}])
    assert out["@timestamp"] == "2006-07-28T13:27:10"


def test_second_format_and_second_field_and_target_format() -> None:
    [out] = run(_parser(target_format="%Y%m%d"), [{"ts": "2021-03-04 05:06:07"}])
    assert out["@timestamp"] == "20210304"


def test_first_parsable_field_wins() -> None:
    [out] = run(_parser(), [{"datetime": "garbage", "ts": "2021-03-04 05:06:07"}])
    assert out["@timestamp"] == "2021-03-04T05:06:07"
    assert not errors_of(out)


@pytest.mark.parametrize("value", ["garbage", "", 1234567890, None, ["x"], "x" * 100_000, "🎉"])
def test_unparsable_present_field_is_tagged_not_dropped(value: Any) -> None:
    [out] = run(_parser(), [{"datetime": value}])
    assert "@timestamp" not in out
    assert errors_of(out)[0]["reason"] == "no source_formats matched 'datetime'"


def test_missing_source_fields_leave_event_alone_and_are_counted() -> None:
    module = _parser()
    [out] = run(module, [{"data": "x"}])
    assert "@timestamp" not in out
    assert not errors_of(out)
    assert module.stats.counts["missing_source"] == 1


def test_repeated_values_are_parsed_once_and_cache_is_bounded() -> None:
    module = _parser()
    events = [{"ts": f"2021-03-04 05:06:{i % 60:02d}"} for i in range(10_000)]
    out = run(module, events)
    assert len(out) == 10_000
    assert len(module._parsed) == 60


def test_nothing_lost() -> None:
    events = [{"ts": "2021-03-04 05:06:07"}, {"ts": "bad"}, {}]
    out = run(_parser(), events)
    assert len(out) == 3
    assert [("@timestamp" in e, bool(errors_of(e))) for e in out] == [
        (True, False),
        (False, True),
        (False, False),
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"source_fields": ["a"]}, "'source_fields' needs 'source_formats'"),
        ({"source_formats": ["%Y"]}, "'source_formats' needs 'source_fields'"),
        ({"format": "%Y", "target_format": "%Y"}, "set 'format' or 'target_format', not both"),
        ({"source_fields": "a", "source_formats": ["%Q"]}, "bad time format '%Q'"),
        ({"source_fields": "a", "source_formats": []}, "at least one format"),
        ({"target_field": ""}, "target_field"),
    ],
)
def test_inconsistent_options_are_load_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(BuildError, match=message):
        build("AddDateTime", options)


def test_single_source_format_string_is_accepted() -> None:
    [out] = run(
        build("AddDateTime", {"source_fields": "d", "source_formats": "%Y"}), [{"d": "2020"}]
    )
    assert out["@timestamp"] == "2020-01-01T00:00:00"
