from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gp_celery.event import errors_of
from gp_celery.testing import BuildError, build, run

NAMES = ["gumby", "brain", "specialist", "doctor", "surgeon"]


def reasons(event: dict[str, Any]) -> list[str]:
    return [error["reason"] for error in errors_of(event)]


def parser(**options: Any) -> Any:
    return build("CsvParser", {"fieldnames": NAMES, **options})


def test_spec_example_names_every_value() -> None:
    module = parser(source_field="csv-data", delimiter=";")
    [event] = run(module, [{"csv-data": "It's;just;a;flesh;wound."}])
    assert [event[name] for name in NAMES] == ["It's", "just", "a", "flesh", "wound."]


@pytest.mark.parametrize("name", ["CsvParser", "CSVParser", "parser.Csv"])
def test_readme_spelling_and_lumbermill_name_find_the_module(name: str) -> None:
    assert type(build(name, {"fieldnames": ["a"]})).__name__ == "CsvParser"


def test_default_delimiter_is_a_pipe_and_source_is_data() -> None:
    [event] = run(parser(), [{"data": "a|b,c|d"}])
    assert (event["gumby"], event["brain"], event["specialist"]) == ("a", "b,c", "d")


def test_quoted_values_hold_delimiters_quotes_and_line_breaks() -> None:
    [event] = run(parser(delimiter=","), [{"data": '"a,b","say ""hi""","x\ny"'}])
    assert (event["gumby"], event["brain"], event["specialist"]) == ("a,b", 'say "hi"', "x\ny")


def test_escapechar_makes_the_delimiter_literal() -> None:
    [event] = run(parser(), [{"data": r"a\|b|c"}])
    assert (event["gumby"], event["brain"]) == ("a|b", "c")


def test_skipinitialspace_drops_spaces_after_the_delimiter() -> None:
    [event] = run(parser(delimiter=",", skipinitialspace=True), [{"data": "a,  b"}])
    assert event["brain"] == "b"


def test_surplus_values_are_ignored_and_counted_missing_ones_left_unset() -> None:
    module = build("CsvParser", {"fieldnames": ["a", "b"]})
    out = run(module, [{"data": "1|2|3"}, {"data": "1"}])
    assert (out[0]["a"], out[0]["b"]) == ("1", "2")
    assert module.stats.counts["surplus_values"] == 1
    assert out[1]["a"] == "1"
    assert "b" not in out[1]


def test_later_rows_overwrite_earlier_ones_as_in_gambolputty() -> None:
    [event] = run(parser(), [{"data": "1|2\n3"}])
    assert (event["gumby"], event["brain"]) == ("3", "2")


def test_bytes_source_is_decoded_as_utf8() -> None:
    [event] = run(parser(), [{"data": "ä|b".encode()}])
    assert event["gumby"] == "ä"


def test_missing_source_passes_untouched() -> None:
    module = parser()
    [event] = run(module, [{"other": 1}])
    assert errors_of(event) == []
    assert "gumby" not in event
    assert module.stats.counts["missing_source"] == 1


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        pytest.param("x" * 200_000, "field larger than field limit", id="oversize"),
        pytest.param(b"a|\xff", "is not valid UTF-8", id="invalid-utf8"),
        pytest.param(42, "'data' is int, not text", id="int"),
        pytest.param(None, "'data' is NoneType, not text", id="none"),
        pytest.param(["a|b"], "'data' is list, not text", id="list"),
    ],
)
def test_hostile_values_are_tagged_and_nothing_is_lost(value: Any, reason: str) -> None:
    out = run(parser(), [{"data": value}, {"data": "ok"}])
    assert len(out) == 2
    assert reason in reasons(out[0])[0]
    assert "gumby" not in out[0]
    assert out[0]["data"] == value
    assert out[1]["gumby"] == "ok"


@pytest.mark.parametrize("value", ['"unterminated|x', "a|b|", "\x00|\x01", "|||", "", "\udcff|a"])
def test_malformed_or_truncated_text_is_read_leniently_like_the_csv_module(value: str) -> None:
    out = run(parser(), [{"data": value}])
    assert len(out) == 1
    assert errors_of(out[0]) == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"delimiter": ";;"}, "expected one character"),
        ({"quotechar": ""}, "expected one character"),
        ({"delimiter": "\n"}, "line break"),
        ({"fieldnames": []}, "at least 1"),
        ({"fieldnames": ["a", "gambolputty"]}, "metadata"),
        ({"fieldnames": ["lumbermill"]}, "metadata"),
    ],
)
def test_bad_options_are_refused_at_load(options: dict[str, Any], message: str) -> None:
    with pytest.raises(BuildError, match=message):
        parser(**options)


def test_fieldnames_are_required() -> None:
    with pytest.raises(BuildError, match="fieldnames"):
        build("CsvParser", {})


def test_no_escapechar_keeps_backslashes() -> None:
    [event] = run(parser(escapechar=None), [{"data": r"a\|b"}])
    assert (event["gumby"], event["brain"]) == ("a\\", "b")


MODULE = parser(delimiter=",")


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200)))
def test_any_bytes_or_text_never_raise_and_every_event_comes_out(value: Any) -> None:
    out = run(MODULE, [{"data": value}, {"other": 1}])
    assert len(out) == 2
