from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gp_celery.event import errors_of
from gp_celery.testing import BuildError, build, run

RFC5424_EXAMPLE = (
    "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
    '[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] '
    "\ufeffAn application event log entry..."
)


def parser(**options: Any) -> Any:
    return build("SyslogParser", options)


def at(*when: int) -> Any:
    """A parser whose clock says ``when`` (UTC)."""
    module = parser()
    module.now = lambda: datetime(*when, tzinfo=UTC)
    return module


def reasons(event: dict[str, Any]) -> list[str]:
    return [error["reason"] for error in errors_of(event)]


def syslog_fields(event: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in event.items() if key.startswith("syslog_")}


# -- RFC 3164 ---------------------------------------------------------------------------------


def test_rfc3164_with_hostname_tag_and_pid() -> None:
    [event] = run(at(2026, 6, 1), [{"data": "<34>Oct 11 22:14:15 mymachine su[230]: 'su' failed"}])
    assert syslog_fields(event) == {
        "syslog_pri": 34,
        "syslog_facility": 4,
        "syslog_severity": 2,
        "syslog_facility_name": "security/authorization",
        "syslog_severity_name": "Critical",
        "syslog_timestamp": "2025-10-11T22:14:15+00:00",
        "syslog_hostname": "mymachine",
        "syslog_appname": "su",
        "syslog_procid": "230",
        "syslog_message": "'su' failed",
    }
    assert errors_of(event) == []
    assert event["data"].startswith("<34>")


def test_rfc3164_without_pid() -> None:
    [event] = run(at(2026, 12, 1), [{"data": "<13>Dec  1 10:00:00 vm myapp: two words"}])
    assert event["syslog_appname"] == "myapp"
    assert "syslog_procid" not in event
    assert event["syslog_message"] == "two words"


def test_rfc3164_without_hostname_takes_the_first_word_as_the_tag() -> None:
    [event] = run(at(2026, 12, 1), [{"data": "<13>Dec  1 10:00:00 myapp[77]: no host here"}])
    assert "syslog_hostname" not in event
    assert (event["syslog_appname"], event["syslog_procid"]) == ("myapp", "77")
    assert event["syslog_message"] == "no host here"


def test_rfc3164_without_tag_is_all_message() -> None:
    [event] = run(at(2026, 12, 1), [{"data": "<13>Dec  1 10:00:00 router link down on ge-0/0/1"}])
    assert event["syslog_hostname"] == "router"
    assert "syslog_appname" not in event
    assert event["syslog_message"] == "link down on ge-0/0/1"


@pytest.mark.parametrize("day", ["Dec  5", "Dec 5", "Dec 05"])
def test_rfc3164_single_digit_day_padded_with_space_or_not(day: str) -> None:
    [event] = run(at(2026, 12, 6), [{"data": f"<13>{day} 07:08:09 host app: x"}])
    assert event["syslog_timestamp"] == "2026-12-05T07:08:09+00:00"


@pytest.mark.parametrize(
    ("now", "stamp", "year"),
    [
        pytest.param((2027, 1, 1, 0, 5), "Dec 31 23:59:00", 2026, id="december-read-in-january"),
        pytest.param((2026, 12, 31, 23, 59), "Jan  1 00:00:30", 2027, id="fast-sender-new-year"),
        pytest.param((2026, 6, 1), "Jun  2 00:00:00", 2026, id="less-than-a-day-ahead"),
        pytest.param((2026, 6, 1), "Jun  3 00:00:01", 2025, id="more-than-a-day-ahead"),
        pytest.param((2026, 6, 1), "Jan  1 00:00:00", 2026, id="earlier-this-year"),
        pytest.param((2026, 3, 1), "Feb 29 12:00:00", 2024, id="leap-day-last-leap-year"),
    ],
)
def test_rfc3164_year_is_inferred_from_the_clock(
    now: tuple[int, ...], stamp: str, year: int
) -> None:
    [event] = run(at(*now), [{"data": f"<13>{stamp} host app: x"}])
    assert event["syslog_timestamp"].startswith(f"{year}-")


def test_rfc3164_fraction_of_a_second_is_kept() -> None:
    [event] = run(at(2026, 12, 6), [{"data": "<13>Dec  5 07:08:09.25 host app: x"}])
    assert event["syslog_timestamp"] == "2026-12-05T07:08:09.250000+00:00"
    assert event["syslog_hostname"] == "host"


def test_rfc3164_timezone_option_reads_the_time_in_that_zone() -> None:
    module = parser(timezone="Europe/Berlin")
    module.now = lambda: datetime(2026, 7, 1, tzinfo=UTC)
    [event] = run(module, [{"data": "<13>Jun 30 12:00:00 host app: x"}])
    assert event["syslog_timestamp"] == "2026-06-30T12:00:00+02:00"


def test_rfc3164_local_timezone_gives_an_offset() -> None:
    [event] = run(parser(timezone="local"), [{"data": "<13>Jan  2 03:04:05 host app: x"}])
    assert datetime.fromisoformat(event["syslog_timestamp"]).tzinfo is not None


def test_rfc3164_with_an_rfc3339_timestamp_as_rsyslog_forwards_it() -> None:
    text = "<30>2026-11-30T23:59:58.123456+01:00 web01 nginx[811]: GET /"
    [event] = run(parser(), [{"data": text}])
    assert event["syslog_timestamp"] == "2026-11-30T23:59:58.123456+01:00"
    assert (event["syslog_hostname"], event["syslog_appname"]) == ("web01", "nginx")
    assert (event["syslog_procid"], event["syslog_message"]) == ("811", "GET /")
    assert "syslog_version" not in event


def test_map_values_false_writes_numbers_only() -> None:
    [event] = run(parser(map_values=False), [{"data": "<13>Jan  2 03:04:05 host app: x"}])
    assert (event["syslog_facility"], event["syslog_severity"]) == (1, 5)
    assert "syslog_facility_name" not in event
    assert "syslog_severity_name" not in event


def test_custom_mappings_are_merged_over_the_standard_names() -> None:
    module = parser(facility_mappings={1: "PetShopBolton"}, severity_mappings={5: "Dead Parrot"})
    [event] = run(module, [{"data": "<13>Jan  2 03:04:05 host app: x"}])
    assert event["syslog_facility_name"] == "PetShopBolton"
    assert event["syslog_severity_name"] == "Dead Parrot"
    [other] = run(module, [{"data": "<187>Jan  2 03:04:05 host app: x"}])
    assert (other["syslog_facility_name"], other["syslog_severity_name"]) == ("local7", "Error")


# -- RFC 5424 ---------------------------------------------------------------------------------


def test_rfc5424_example_of_the_rfc_with_bom() -> None:
    [event] = run(parser(), [{"data": RFC5424_EXAMPLE}])
    assert syslog_fields(event) == {
        "syslog_pri": 165,
        "syslog_facility": 20,
        "syslog_severity": 5,
        "syslog_facility_name": "local4",
        "syslog_severity_name": "Notice",
        "syslog_version": 1,
        "syslog_timestamp": "2003-10-11T22:14:15.003000+00:00",
        "syslog_hostname": "mymachine.example.com",
        "syslog_appname": "evntslog",
        "syslog_msgid": "ID47",
        "syslog_sd": {
            "exampleSDID@32473": {"iut": "3", "eventSource": "Application", "eventID": "1011"}
        },
        "syslog_message": "An application event log entry...",
    }


def test_rfc5424_several_sd_elements_and_escapes() -> None:
    text = (
        '<13>1 2026-12-01T10:16:22.731949+00:00 vm myapp 10824 - [timeQuality tzKnown="1" '
        'isSynced="0"][ex@32473 q="say \\"hi\\"" path="C:\\\\dir" br="[a\\]" other="\\n"'
        ' ip="1.1.1.1" ip="2.2.2.2"] hello world'
    )
    [event] = run(parser(), [{"data": text}])
    assert event["syslog_sd"] == {
        "timeQuality": {"tzKnown": "1", "isSynced": "0"},
        "ex@32473": {
            "q": 'say "hi"',
            "path": "C:\\dir",
            "br": "[a]",
            "other": "\\n",
            "ip": ["1.1.1.1", "2.2.2.2"],
        },
    }
    assert event["syslog_procid"] == "10824"
    assert event["syslog_timestamp"] == "2026-12-01T10:16:22.731949+00:00"
    assert event["syslog_message"] == "hello world"


def test_rfc5424_all_nilvalues_leave_the_fields_out() -> None:
    [event] = run(parser(), [{"data": "<0>1 - - - - - -"}])
    assert syslog_fields(event) == {
        "syslog_pri": 0,
        "syslog_facility": 0,
        "syslog_severity": 0,
        "syslog_facility_name": "kernel messages",
        "syslog_severity_name": "Emergency",
        "syslog_version": 1,
    }
    assert errors_of(event) == []


def test_rfc5424_empty_sd_element_and_empty_message() -> None:
    [event] = run(parser(), [{"data": "<14>1 2026-01-01T00:00:00-05:30 h a p m [x] "}])
    assert event["syslog_sd"] == {"x": {}}
    assert event["syslog_message"] == ""
    assert event["syslog_timestamp"] == "2026-01-01T00:00:00-05:30"


def test_rfc5424_leap_second_is_read_as_the_second_before() -> None:
    [event] = run(parser(), [{"data": "<14>1 2016-12-31T23:59:60Z h a p m - x"}])
    assert event["syslog_timestamp"] == "2016-12-31T23:59:59+00:00"


def test_format_rfc3164_does_not_take_rfc5424() -> None:
    [event] = run(parser(format="rfc3164"), [{"data": RFC5424_EXAMPLE}])
    assert "is not an RFC 3164 header" in reasons(event)[0]
    assert syslog_fields(event) == {}


def test_format_rfc5424_does_not_take_rfc3164() -> None:
    [event] = run(parser(format="rfc5424"), [{"data": "<13>Jan  2 03:04:05 host app: x"}])
    assert "is not an RFC 5424 header" in reasons(event)[0]


def test_source_field_and_bytes() -> None:
    [event] = run(parser(source_field="raw.line"), [{"raw": {"line": RFC5424_EXAMPLE.encode()}}])
    assert event["syslog_appname"] == "evntslog"
    assert event["syslog_message"] == "An application event log entry..."


def test_bad_options_are_refused() -> None:
    with pytest.raises(BuildError, match="unknown time zone 'Mars/Olympus'"):
        parser(timezone="Mars/Olympus")
    with pytest.raises(BuildError, match="format"):
        parser(format="rfc1234")


# -- hostile input ----------------------------------------------------------------------------

HOSTILE = [
    pytest.param("no syslog at all", "is not an RFC 3164 header", id="malformed"),
    pytest.param("", "is not an RFC 3164 header", id="empty"),
    pytest.param("<13", "is not an RFC 3164 header", id="truncated-pri"),
    pytest.param("<13>1 2003-10-11T22:14:15Z host", "is not an RFC 5424 header", id="truncated"),
    pytest.param("<13>Dec", "is not an RFC 3164 header", id="truncated-3164"),
    pytest.param("<999>Dec  1 10:00:00 h a: x", "PRI of 999, above 191", id="pri-too-big"),
    pytest.param("<13>Foo  1 10:00:00 h a: x", "unknown month 'Foo'", id="bad-month"),
    pytest.param("<13>Apr 31 10:00:00 h a: x", "invalid timestamp", id="bad-day"),
    pytest.param("<13>Apr  3 25:00:00 h a: x", "invalid timestamp", id="bad-hour"),
    pytest.param("<13>2026-02-30T00:00:00Z h a: x", "invalid timestamp", id="bad-iso-3164"),
    pytest.param("<13>1 2003-13-11T22:14:15Z h a p m -", "invalid timestamp", id="bad-month-5424"),
    pytest.param("<13>1 2003-10-11 22:14:15Z h a p m -", "invalid timestamp", id="space-in-time"),
    pytest.param("<13>1 2003-10-11T22:14:15 h a p m -", "invalid timestamp", id="no-offset"),
    pytest.param("<13>1 - h a p m [x a=1]", "not followed by '=\"'", id="unquoted-param"),
    pytest.param('<13>1 - h a p m [x a="1"', "not closed by ']'", id="unclosed-element"),
    pytest.param('<13>1 - h a p m [x a="1]', "no closing", id="unclosed-value"),
    pytest.param('<13>1 - h a p m [x a="1\\"]', "no closing", id="escaped-last-quote"),
    pytest.param("<13>1 - h a p m []", "invalid SD-ID", id="empty-sd-id"),
    pytest.param(f"<13>1 - h a p m [{'x' * 33}]", "invalid SD-ID", id="long-sd-id"),
    pytest.param("<13>1 - h a p m x", "no structured data", id="no-sd"),
    pytest.param("<13>1 - h a p m -x", "after the structured data", id="junk-after-sd"),
    pytest.param("<13>1 - h a p m [a" + " b=" * 100_000, "not followed", id="many-params"),
    pytest.param("<13>1 - h a p m " + "[" * 1_000_000, "invalid SD-ID", id="deep-brackets"),
    pytest.param('<13>1 - h a p m [a b="' + "\\x" * 500_000, "no closing", id="many-slashes"),
    pytest.param("<13>" + "x" * 10_000_000, "is not an RFC 3164 header", id="10MB-garbage"),
]


@pytest.mark.parametrize(("text", "reason"), HOSTILE)
def test_hostile_text_is_tagged_and_passes_on_unchanged(text: str, reason: str) -> None:
    events = [{"data": text}, {"data": "<13>Jan  2 03:04:05 host app: fine"}]
    out = run(parser(), events)
    assert len(out) == 2
    assert reason in reasons(out[0])[0]
    assert out[0]["data"] == text
    assert syslog_fields(out[0]) == {}
    assert out[1]["syslog_message"] == "fine"


def test_oversize_valid_message_is_parsed_whole() -> None:
    body = "y" * 5_000_000
    [event] = run(parser(), [{"data": f"<13>1 - h a p m - {body}"}])
    assert event["syslog_message"] == body
    assert errors_of(event) == []


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        pytest.param(42, "'data' is int, not text", id="int"),
        pytest.param(None, "'data' is NoneType, not text", id="none"),
        pytest.param(["<13>1 - - - - - -"], "'data' is list, not text", id="list"),
        pytest.param({"a": 1}, "'data' is dict, not text", id="dict"),
    ],
)
def test_wrong_types_are_tagged_and_pass_on_unchanged(value: Any, reason: str) -> None:
    [event] = run(parser(), [{"data": value}])
    assert reasons(event) == [reason]
    assert event["data"] == value


def test_missing_source_is_tagged() -> None:
    [event] = run(parser(), [{"other": 1}])
    assert reasons(event) == ["'data' is missing"]


def test_invalid_utf8_bytes_are_parsed_with_replacement_and_tagged() -> None:
    [event] = run(parser(), [{"data": b"<13>Jan  2 03:04:05 host app: caf\xe9 \xff"}])
    assert event["syslog_message"] == "caf\ufffd \ufffd"
    assert "is not valid UTF-8" in reasons(event)[0]


@given(st.one_of(st.binary(max_size=300), st.text(max_size=300)))
@settings(max_examples=300, deadline=None)
def test_random_input_never_raises_and_every_event_comes_back(value: bytes | str) -> None:
    module = parser()
    for prefix in ("", "<13>1 ", "<13>Jan  2 03:04:05 "):
        data: bytes | str = prefix.encode() + value if isinstance(value, bytes) else prefix + value
        out = run(module, [{"data": data}, {"data": "<13>1 - - - - - -"}])
        assert len(out) == 2
        assert out[1]["syslog_pri"] == 13
        assert errors_of(out[0]) or "syslog_pri" in out[0]
