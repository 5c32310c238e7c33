from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gp_celery.event import errors_of, metadata
from gp_celery.testing import BuildError, build, run

IPTABLES = (
    "IN=eth0 OUT= MAC=00:16:3e:aa:bb:cc SRC=192.168.1.5 DST=10.0.0.2 LEN=60 TOS=0x00 "
    "PREC=0x00 TTL=64 ID=4242 DF PROTO=TCP SPT=51234 DPT=22 WINDOW=29200 RES=0x00 SYN URGP=0"
)


def reasons(event: dict[str, Any]) -> list[str]:
    return [error["reason"] for error in errors_of(event)]


def parser(**options: Any) -> Any:
    return build("KeyValueParser", options)


def parsed(text: str, **options: Any) -> dict[str, Any]:
    [event] = run(parser(target_field="kv", **options), [{"data": text}])
    assert errors_of(event) == []
    return dict(event["kv"])


def test_iptables_line_with_flags_and_empty_values() -> None:
    [event] = run(parser(), [{"data": IPTABLES}])
    assert (event["IN"], event["OUT"], event["SRC"], event["DPT"]) == (
        "eth0",
        "",
        "192.168.1.5",
        "22",
    )
    assert event["MAC"] == "00:16:3e:aa:bb:cc"
    assert event["DF"] is True
    assert event["SYN"] is True
    assert event["data"] == IPTABLES
    assert errors_of(event) == []


def test_logfmt_with_double_and_single_quotes_and_escapes() -> None:
    text = r"""level=info msg="disk \"sda\" full" who='O\'Brien' path="C:\\tmp" end"""
    assert parsed(text) == {
        "level": "info",
        "msg": 'disk "sda" full',
        "who": "O'Brien",
        "path": "C:\\tmp",
        "end": True,
    }


def test_quoted_keys_and_quotes_in_the_middle_of_a_word() -> None:
    assert parsed("'a key'=1 b=x\"y z\"w") == {"a key": "1", "b": "xy zw"}


def test_backslash_outside_quotes_is_an_ordinary_character() -> None:
    assert parsed(r"p=C:\tmp") == {"p": r"C:\tmp"}


def test_first_value_separator_splits_the_rest_stays_in_the_value() -> None:
    assert parsed("a=b=c") == {"a": "b=c"}


def test_runs_of_separators_count_once_and_ends_are_ignored() -> None:
    assert parsed("   a=1    b=2  ") == {"a": "1", "b": "2"}


def test_custom_separators_are_sets_of_characters() -> None:
    assert parsed("a:1, b=2;c:3", field_split=",; ", value_split=":=") == {
        "a": "1",
        "b": "2",
        "c": "3",
    }


def test_repeated_keys_collect_a_list_in_order() -> None:
    assert parsed("tag=a tag=b x=1 tag=c") == {"tag": ["a", "b", "c"], "x": "1"}


def test_empty_key_is_left_out_and_counted() -> None:
    module = parser(target_field="kv")
    [event] = run(module, [{"data": "=x y=1"}])
    assert event["kv"] == {"y": "1"}
    assert module.stats.counts["empty_keys"] == 1


def test_flags_can_be_left_out_like_logstash() -> None:
    assert parsed("DF a=1 SYN", accept_standalone_key=False) == {"a": "1"}


def test_empty_values_can_be_left_out() -> None:
    assert parsed('OUT= a=1 b=""', keep_empty=False) == {"a": "1"}


def test_include_exclude_prefix_and_trim() -> None:
    options = {"include_keys": ["a", "b", "c"], "exclude_keys": ["c"], "prefix": "kv_"}
    text = "a=[1] b=<2>, c=3 d=4"
    assert parsed(text, trim_value="[]<>,", **options) == {"kv_a": "1", "kv_b": "2"}


def test_keep_original_false_removes_the_source() -> None:
    [event] = run(parser(keep_original=False), [{"data": "a=1"}])
    assert "data" not in event
    assert event["a"] == "1"


def test_keys_naming_the_metadata_do_not_replace_it() -> None:
    [event] = run(parser(), [{"data": "gambolputty=x lumbermill=y ok=1"}])
    assert isinstance(metadata(event)["event_id"], str)
    assert event["ok"] == "1"
    assert len(reasons(event)) == 2


def test_with_a_target_the_metadata_names_are_ordinary_keys() -> None:
    assert parsed("gambolputty=x") == {"gambolputty": "x"}


def test_dotted_keys_are_literal() -> None:
    [event] = run(parser(), [{"data": "a.b=1"}])
    assert event["a.b"] == "1"
    assert "a" not in event


def test_missing_source_passes_untouched() -> None:
    module = parser()
    [event] = run(module, [{"other": 1}])
    assert errors_of(event) == []
    assert module.stats.counts["missing_source"] == 1


def test_empty_text_gives_no_pairs() -> None:
    assert parsed("") == {}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        pytest.param('a=1 msg="truncated', "unterminated quote", id="truncated-quote"),
        pytest.param("a='x", "unterminated quote", id="truncated-single-quote"),
        pytest.param('"', "unterminated quote", id="lone-quote"),
        pytest.param('a="x"y"', "unterminated quote", id="odd-quotes"),
        pytest.param('a="x\\"', "unterminated quote", id="escaped-closing-quote"),
        pytest.param("a=1 " * 1001, "over 1000 pairs", id="too-many-pairs"),
        pytest.param(b"a=\xff", "is not valid UTF-8", id="invalid-utf8"),
        pytest.param(7, "'data' is int, not text", id="int"),
        pytest.param(None, "'data' is NoneType, not text", id="none"),
        pytest.param(["a=1"], "'data' is list, not text", id="list"),
    ],
)
def test_hostile_values_are_tagged_write_nothing_and_nothing_is_lost(
    value: Any, reason: str
) -> None:
    out = run(parser(keep_original=False), [{"data": value}, {"data": "ok=1"}])
    assert len(out) == 2
    assert reason in reasons(out[0])[0]
    assert set(out[0]) == {"data", "gambolputty"}
    assert out[0]["data"] == value
    assert out[1]["ok"] == "1"


def test_oversize_value_parses() -> None:
    big = "x" * 5_000_000
    assert parsed(f'a="{big}" b=1') == {"a": big, "b": "1"}


def test_bytes_source_is_decoded() -> None:
    [event] = run(parser(), [{"data": "a=ä".encode()}])
    assert event["a"] == "ä"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"field_split": ""}, "at least 1"),
        ({"value_split": '="'}, "quotes or backslashes"),
        ({"field_split": " =", "value_split": "="}, "must not share"),
        ({"max_pairs": 0}, "greater than 0"),
        ({"target_field": ".a"}, "invalid field path"),
    ],
)
def test_bad_options_are_refused_at_load(options: dict[str, Any], message: str) -> None:
    with pytest.raises(BuildError, match=message):
        parser(**options)


MODULE = parser()
ALPHABET = st.text(alphabet=" =\"'\\ab,\n\x00é", max_size=60)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200), ALPHABET))
def test_any_bytes_or_text_never_raise_and_every_event_comes_out(value: Any) -> None:
    out = run(MODULE, [{"data": value}, {"other": 1}])
    assert len(out) == 2
    assert isinstance(metadata(out[0])["event_id"], str)
