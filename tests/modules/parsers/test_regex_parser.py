from __future__ import annotations

from typing import Any

import pytest

from gp_celery.event import errors_of, event_type
from gp_celery.testing import BuildError, build, run

SPEC_PATTERN = (
    r"(?P<remote_ip>\d+\.\d+\.\d+\.\d+)\s+(?P<identd>\w+|-)\s+(?P<user>\w+|-)\s+"
    r"\[(?P<datetime>\d+\/\w+\/\d+:\d+:\d+:\d+\s.\d+)\]\s+\"(?P<url>.*)\"\s+"
    r"(?P<http_status>\d+)\s+(?P<bytes_send>\d+)"
)
SPEC_LINE = '192.168.2.20 - - [28/Jul/2006:10:27:10 -0300] "GET /cgi-bin/try/ HTTP/1.0" 200 3395'
EXAMPLE_TCP_PATTERN = (
    r"(?P<remote_ip>%{IP})\s+(?P<identd>\w+|-)\s+(?P<user>\w+|-)\s+"
    r"\[(?P<datetime>\d+\/\w+\/\d+:\d+:\d+:\d+\s.\d+)\]\s+\"(?P<http_method>%{HTTPMETHOD}) "
    r"(?P<uri>\S+) (?P<http_version>%{HTTPVERSION})\"\s+(?P<http_status>\d+)\s+"
    r"(?P<bytes_send>\d+)\s+\"(?P<user_agent>[^\"]*)\""
)


def parser(patterns: Any, **options: Any) -> Any:
    return build("RegexParser", {"field_extraction_patterns": patterns, **options})


def test_spec_example_extracts_fields_and_names_the_event_type() -> None:
    module = parser([{"httpd_access_log": SPEC_PATTERN}], source_field="event")
    [event] = run(module, [{"event": SPEC_LINE}])
    assert {k: v for k, v in event.items() if k not in ("event", "gambolputty")} == {
        "remote_ip": "192.168.2.20",
        "identd": "-",
        "user": "-",
        "datetime": "28/Jul/2006:10:27:10 -0300",
        "url": "GET /cgi-bin/try/ HTTP/1.0",
        "http_status": "200",
        "bytes_send": "3395",
    }
    assert event_type(event) == "httpd_access_log"
    assert errors_of(event) == []


def test_example_tcp_conf_pattern_with_grok_references() -> None:
    module = parser([{"httpd_access_log": EXAMPLE_TCP_PATTERN}])
    line = '10.1.2.3 - bob [10/Mar/2024:00:00:00 +0100] "GET /x?a=1 HTTP/1.1" 200 12 "curl/8.5"'
    [event] = run(module, [{"data": line}])
    assert event["remote_ip"] == "10.1.2.3"
    assert (event["http_method"], event["uri"], event["http_version"]) == (
        "GET",
        "/x?a=1",
        "HTTP/1.1",
    )
    assert event["user_agent"] == "curl/8.5"


def test_lumbermill_alias_builds_the_same_module() -> None:
    module = build("parser.Regex", {"field_extraction_patterns": [{"t": "(?P<x>a)"}]})
    assert type(module).__name__ == "RegexParser"


def test_plain_mapping_of_patterns_is_accepted() -> None:
    module = parser({"digits": r"(?P<n>\d+)", "word": r"(?P<w>[a-z]+)"})
    out = run(module, [{"data": "abc"}, {"data": "42"}])
    assert [event_type(e) for e in out] == ["word", "digits"]


def test_dotted_source_field() -> None:
    module = parser([{"t": r"(?P<n>\d+)"}], source_field="fields.2")
    [event] = run(module, [{"fields": ["a", "b", "no 7"]}])
    assert event["n"] == "7"


def test_unmatched_event_gets_mark_unmatched_as_without_an_error_tag() -> None:
    module = parser([{"t": r"^(?P<n>\d+)$"}], mark_unmatched_as="nomatch")
    [event] = run(module, [{"data": "words"}])
    assert event_type(event) == "nomatch"
    assert errors_of(event) == []
    assert module.stats.counts["unmatched"] == 1


def test_default_mark_unmatched_as_is_unknown() -> None:
    [event] = run(parser([{"t": "x"}]), [{"data": "y"}])
    assert event_type(event) == "Unknown"


def test_break_on_match_stops_at_the_first_pattern() -> None:
    module = parser([{"first": r"(?P<a>\w+)"}, {"second": r"(?P<b>\w+)"}])
    [event] = run(module, [{"data": "hi"}])
    assert event_type(event) == "first"
    assert "b" not in event


def test_without_break_on_match_all_matches_merge_and_the_last_names_the_type() -> None:
    module = parser(
        [{"first": r"(?P<a>\w+) (?P<b>\w+)"}, {"none": "zzz"}, {"last": r"(?P<b>\w+)$"}],
        break_on_match=False,
    )
    [event] = run(module, [{"data": "one two"}])
    assert (event["a"], event["b"]) == ("one", "two")
    assert event_type(event) == "last"


def test_same_event_type_may_appear_twice() -> None:
    module = parser([{"web": r"^apache (?P<a>\d+)"}, {"web": r"^nginx (?P<n>\d+)"}])
    out = run(module, [{"data": "apache 1"}, {"data": "nginx 2"}])
    assert [event_type(e) for e in out] == ["web", "web"]
    assert (out[0]["a"], out[1]["n"]) == ("1", "2")


def test_matching_uses_search_not_match() -> None:
    [event] = run(parser([{"t": r"(?P<n>\d+)"}]), [{"data": "abc 12"}])
    assert event["n"] == "12"


def test_groups_that_did_not_take_part_are_left_out() -> None:
    module = parser([{"t": r"(?P<a>x)(?P<b>y)?|(?P<c>z)"}])
    [event] = run(module, [{"data": "x"}])
    assert event["a"] == "x"
    assert "b" not in event
    assert "c" not in event


@pytest.mark.parametrize(
    ("flags", "text", "matched"),
    [
        ("re.MULTILINE | re.DOTALL", "first\nsecond", True),
        ("MULTILINE|IGNORECASE", "x\nFIRST SECOND", True),
        ("", "x\nfirst second", False),
        ("", "first\nsecond", False),
    ],
)
def test_flags_change_matching(flags: str, text: str, matched: bool) -> None:
    module = parser([{"t": [r"^(?P<a>first).(?P<b>second)$", flags]}])
    [event] = run(module, [{"data": text}])
    assert (event_type(event) == "t") is matched


def test_findall_makes_every_group_a_list() -> None:
    module = parser([{"kv": [r"(?P<key>\w+)=(?P<value>\w*)(?P<flag>!)?", "", "findall"]}])
    [event] = run(module, [{"data": "a=1 b=2! c="}])
    assert event["key"] == ["a", "b", "c"]
    assert event["value"] == ["1", "2", ""]
    assert event["flag"] == ["", "!", ""]  # '' where a match skipped the group, as re.findall
    assert event_type(event) == "kv"


def test_findall_leaves_out_groups_that_never_took_part() -> None:
    module = parser([{"kv": [r"(?P<key>\w+)=(?P<never>@)?", None, "findall"]}])
    [event] = run(module, [{"data": "a= b="}])
    assert event["key"] == ["a", "b"]
    assert "never" not in event


def test_findall_without_a_match_is_unmatched() -> None:
    module = parser([{"kv": [r"(?P<key>\w+)=", None, "findall"]}])
    [event] = run(module, [{"data": "nothing"}])
    assert event_type(event) == "Unknown"
    assert "key" not in event


def test_grok_type_suffixes_convert_values() -> None:
    module = parser([{"t": "%{NUMBER:bytes:int} %{NUMBER:took:float} %{WORD:w}"}])
    [event] = run(module, [{"data": "512 0.25 ok"}])
    assert (event["bytes"], event["took"], event["w"]) == (512, 0.25, "ok")


def test_grok_conversion_applies_to_findall_lists() -> None:
    module = parser([{"t": [r"%{INT:n:int}", None, "findall"]}])
    [event] = run(module, [{"data": "1 -2 3"}])
    assert event["n"] == [1, -2, 3]


def test_failed_conversion_keeps_the_string_and_tags() -> None:
    module = parser([{"t": "%{NUMBER:n:int}"}])
    [event] = run(module, [{"data": "1.5"}])
    assert event["n"] == "1.5"
    assert event_type(event) == "t"
    assert "'n' value '1.5' is not a valid int" in errors_of(event)[0]["reason"]


def test_hot_rules_first_moves_frequent_patterns_ahead_so_overlaps_can_change() -> None:
    patterns = [{"number": r"^(?P<n>\d+)$"}, {"word": r"^(?P<w>\w+)$"}]
    hot, fixed = parser(patterns), parser(patterns, hot_rules_first=False)
    for module in (hot, fixed):
        run(module, [{"data": "abc"}] * 5)
        module._next_sort = float("-inf")  # as if 10 s had passed
    assert event_type(run(hot, [{"data": "123"}])[0]) == "word"
    assert event_type(run(fixed, [{"data": "123"}])[0]) == "number"


def test_hot_rules_first_keeps_config_order_on_ties() -> None:
    module = parser([{"a": "(?P<a>x)"}, {"b": "(?P<b>x)"}, {"c": "(?P<c>y)"}])
    module._next_sort = float("-inf")
    assert event_type(run(module, [{"data": "x"}])[0]) == "a"


def test_bytes_are_decoded_as_utf8() -> None:
    [event] = run(parser([{"t": r"(?P<w>\w+)"}]), [{"data": "größe".encode()}])
    assert event["w"] == "größe"
    assert errors_of(event) == []


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        pytest.param(None, "'data' is NoneType, not text", id="none"),
        pytest.param(42, "'data' is int, not text", id="int"),
        pytest.param(["a"], "'data' is list, not text", id="list"),
        pytest.param({"a": 1}, "'data' is dict, not text", id="dict"),
        pytest.param(b"ok \xff\xfe", "'data' is not valid UTF-8", id="invalid-utf8"),
        pytest.param(bytes(range(256)) * 8, "'data' is not valid UTF-8", id="binary-garbage"),
    ],
)
def test_hostile_source_values_are_tagged_not_lost(value: Any, reason: str) -> None:
    module = parser([{"t": r"(?P<w>ok)"}])
    events = [{"data": value}, {"data": "ok"}]
    out = run(module, events)
    assert len(out) == len(events)
    assert reason in errors_of(out[0])[0]["reason"]
    assert errors_of(out[1]) == []


def test_missing_source_field_is_tagged_and_event_type_untouched() -> None:
    [event] = run(parser([{"t": "x"}]), [{"other": "x"}])
    assert errors_of(event)[0]["reason"] == "'data' is missing"
    assert event_type(event) == "Unknown"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("x" * 10_000_000, id="10MB"),
        pytest.param("1.2.3.4 " * 1_000_000, id="8MB-near-misses"),
        pytest.param("\x00\x01\ufffd\U0010ffff" * 1000, id="control-and-astral"),
        pytest.param("", id="empty"),
    ],
)
def test_malformed_and_oversize_text_is_unmatched_not_lost(text: str) -> None:
    module = parser([{"httpd": SPEC_PATTERN}, {"grok": "^%{COMBINEDAPACHELOG}$"}])
    out = run(module, [{"data": text}])
    assert len(out) == 1
    assert event_type(out[0]) == "Unknown"


@pytest.mark.parametrize(
    ("patterns", "message"),
    [
        ([{"t": "(?P<a>x"}], "missing ), unterminated subpattern at position 0"),
        ([{"t": "%{NOPE:x}"}], "unknown grok pattern %{NOPE}"),
        ([{"t": ["x", "re.MULTILINE | re.BOGUS"]}], "unknown regex flag 're.BOGUS'"),
        ([{"t": ["x", "__import__('os')"]}], "unknown regex flag"),
        ([{"t": ["x", None, "match"]}], "unknown match_type 'match'"),
        ([{"t": ["x", None, "search", "extra"]}], "expected a pattern or [pattern"),
        ([{"t": 5}], "expected a regular expression"),
        ([{"": "x"}], "the event type must be a non-empty string"),
        (["x"], "entry 0: expected '- event_type: pattern'"),
        ([], "non-empty list"),
        ("x", "non-empty list"),
    ],
)
def test_config_errors_name_the_problem(patterns: Any, message: str) -> None:
    with pytest.raises(BuildError, match="field_extraction_patterns") as error:
        parser(patterns)
    assert message in str(error.value)


def test_config_error_says_which_entry() -> None:
    with pytest.raises(BuildError, match=r"entry 1 \('bad'\): bad regular expression"):
        parser([{"good": "x"}, {"bad": "("}])


def test_field_extraction_patterns_is_required_and_unknown_options_rejected() -> None:
    with pytest.raises(BuildError, match="field_extraction_patterns"):
        build("RegexParser", {})
    with pytest.raises(BuildError, match="hot_rule_first"):
        parser([{"t": "x"}], hot_rule_first=False)
