from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from gp_celery.event import EVENT_ID, errors_of, metadata
from gp_celery.testing import BuildError, build, run


def parser(**options: Any) -> Any:
    return build("JsonParser", options)


def reasons(event: dict[str, Any]) -> list[str]:
    return [error["reason"] for error in errors_of(event)]


def test_spec_example_merges_and_removes_the_source() -> None:
    module = parser(source_fields=["json_data"])
    [event] = run(module, [{"json_data": '{"South African": "Fast", "unladen": "swallow"}'}])
    assert event["South African"] == "Fast"
    assert event["unladen"] == "swallow"
    assert "json_data" not in event


def test_python_repr_is_not_rewritten_into_json_but_tagged() -> None:
    """GambolPutty turned ' into "; that broke apostrophes in real JSON, so it is gone."""
    [event] = run(parser(), [{"data": "{'South African': 'Fast'}"}])
    assert "is not valid JSON" in reasons(event)[0]
    assert event["data"] == "{'South African': 'Fast'}"


def test_apostrophes_inside_json_strings_survive() -> None:
    [event] = run(parser(), [{"data": '{"quote": "It\'s just a flesh wound"}'}])
    assert event["quote"] == "It's just a flesh wound"


def test_lumbermill_alias() -> None:
    assert type(build("parser.Json")).__name__ == "JsonParser"


def test_default_source_is_data_and_bytes_are_accepted() -> None:
    [event] = run(parser(), [{"data": b'{"a": "\xc3\xa4"}'}])
    assert event["a"] == "ä"
    assert "data" not in event


def test_keep_original_keeps_the_source() -> None:
    [event] = run(parser(keep_original=True), [{"data": '{"a": 1}'}])
    assert (event["a"], event["data"]) == (1, '{"a": 1}')


def test_target_field_holds_the_decoded_value_even_when_not_a_map() -> None:
    module = parser(target_field="doc.body")
    out = run(module, [{"data": '{"a": 1}'}, {"data": "42"}, {"data": '"text"'}])
    assert [e["doc"]["body"] for e in out] == [{"a": 1}, 42, "text"]
    assert all(errors_of(e) == [] for e in out)


def test_target_field_may_be_the_source_field() -> None:
    [event] = run(parser(target_field="data"), [{"data": "[1, 2]"}])
    assert event["data"] == [1, 2]


@pytest.mark.parametrize("text", ["42", '"x"', "null", "[1, 2]", "[]", '[{"a": 1}, 2]'])
def test_decoded_non_map_without_target_is_tagged_and_kept(text: str) -> None:
    [event] = run(parser(), [{"data": text}])
    assert "not a map to merge into the event; set target_field" in reasons(event)[0]
    assert event["data"] == text


def test_list_of_maps_makes_one_event_per_map_with_derived_ids() -> None:
    out = run(parser(), [{"data": '[{"n": 1}, {"n": 2}, {"n": 3}]', "keep": "x"}])
    assert [e["n"] for e in out] == [1, 2, 3]
    assert all(e["keep"] == "x" and "data" not in e for e in out)
    first_id = metadata(out[0])[EVENT_ID]
    assert [metadata(e)[EVENT_ID] for e in out[1:]] == [f"{first_id}.1", f"{first_id}.2"]


@pytest.mark.parametrize(
    "text", ['{"n": 1}{"n": 2}', '{"n": 1}\n{"n": 2}\n', ' {"n": 1}  \r\n\t{"n": 2}']
)
def test_documents_back_to_back_decode_like_a_list(text: str) -> None:
    out = run(parser(), [{"data": text}])
    assert [e["n"] for e in out] == [1, 2]


@pytest.mark.parametrize(
    "text", ["[" + ",".join(["{}"] * 11) + "]", "{}" * 11], ids=["list", "back-to-back"]
)
def test_more_maps_than_max_fan_out_tag_the_event_instead_of_splitting(text: str) -> None:
    [event] = run(parser(max_fan_out=10), [{"data": text}])
    assert "max_fan_out" in reasons(event)[0]
    assert event["data"] == text


def test_a_hostile_line_of_empty_documents_is_tagged_not_multiplied() -> None:
    out = run(parser(), [{"data": "{}" * 500_000}])
    assert len(out) == 1
    assert "over 10000 JSON documents" in reasons(out[0])[0]


def test_max_fan_out_maps_are_still_split() -> None:
    out = run(parser(max_fan_out=3), [{"data": "[{}, {}, {}]"}])
    assert len(out) == 3


def test_several_source_fields_are_each_decoded() -> None:
    out = run(parser(source_fields=["a", "b"]), [{"a": '{"x": 1}', "b": '{"y": 2}'}])
    assert [(e["x"], e["y"]) for e in out] == [(1, 2)]


def test_missing_source_passes_on_untouched_and_is_counted() -> None:
    module = parser()
    [event] = run(module, [{"other": 1}])
    assert event["other"] == 1
    assert errors_of(event) == []
    assert module.stats.counts["missing_source"] == 1


def test_decoded_metadata_merges_into_the_events_own() -> None:
    text = json.dumps({"a": 1, "gambolputty": {"event_type": "from_upstream"}})
    [event] = run(parser(), [{"data": text}])
    assert metadata(event)["event_type"] == "from_upstream"
    assert EVENT_ID in metadata(event)


def test_decoded_metadata_that_is_not_a_map_is_ignored_and_tagged() -> None:
    [event] = run(parser(), [{"data": '{"a": 1, "gambolputty": 5}'}])
    assert event["a"] == 1
    assert isinstance(event["gambolputty"], dict)
    assert "ignored it" in reasons(event)[0]


@pytest.mark.parametrize("mode", ["line", "stream"])
def test_mode_is_accepted_and_decodes_alike(mode: str) -> None:
    [event] = run(parser(mode=mode), [{"data": '{"a": 1}'}])
    assert event["a"] == 1


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        pytest.param("{not json", "is not valid JSON", id="malformed"),
        pytest.param('{"a": 1} trailing', "document 2", id="trailing-garbage"),
        pytest.param("x" * 10_000_000, "is not valid JSON", id="10MB-garbage"),
        pytest.param("[" * 100_000, "depth limit exceeded", id="deep-nesting"),
        pytest.param("{}" + "[" * 5_000, "nested too deeply", id="deep-nesting-after-first"),
        pytest.param("1" * 5_000, "is not valid JSON", id="huge-number"),
        pytest.param("1e999", "is not valid JSON", id="infinite-float"),
        pytest.param('{"a": NaN}', "is not valid JSON", id="nan"),
        pytest.param("", "empty document", id="empty"),
        pytest.param(b'{"a": "\xff"}', "is not valid JSON", id="invalid-utf8"),
        pytest.param(b'{"a": 1}\xff', "is not valid UTF-8", id="invalid-utf8-after-document"),
        pytest.param('"\udcff"', "is not valid JSON", id="lone-surrogate"),
        pytest.param(bytes(range(256)) * 8, "is not valid JSON", id="binary-garbage"),
        pytest.param(42, "'data' is int, not JSON text", id="int"),
        pytest.param(None, "'data' is NoneType, not JSON text", id="none"),
        pytest.param(["{}"], "'data' is list, not JSON text", id="list"),
        pytest.param({"a": 1}, "'data' is dict, not JSON text", id="dict"),
    ],
)
def test_hostile_input_is_tagged_and_the_event_goes_on_unchanged(value: Any, reason: str) -> None:
    events = [{"data": value}, {"data": '{"ok": true}'}]
    out = run(parser(), events)
    assert len(out) == len(events)
    assert reason in reasons(out[0])[0]
    assert out[0]["data"] == value
    assert out[1]["ok"] is True


def test_oversize_valid_document_decodes() -> None:
    big = "x" * 10_000_000
    [event] = run(parser(), [{"data": orjson.dumps({"big": big})}])
    assert event["big"] == big


def test_encode_selected_fields_to_target_and_remove_them() -> None:
    module = parser(action="encode", source_fields=["a", "b.c"], target_field="json")
    [event] = run(module, [{"a": 1, "b": {"c": "x", "d": 2}}])
    assert json.loads(event["json"]) == {"a": 1, "b.c": "x"}
    assert "a" not in event
    assert event["b"] == {"d": 2}


def test_encode_without_target_writes_data() -> None:
    [event] = run(parser(action="encode", source_fields="a"), [{"a": [1], "data": "raw"}])
    assert json.loads(event["data"]) == {"a": [1]}


def test_encode_all_keeps_the_event_a_dict() -> None:
    module = parser(action="encode", source_fields="all", target_field="json")
    [event] = run(module, [{"a": 1, "data": "x"}])
    decoded = json.loads(event["json"])
    assert (decoded["a"], decoded["data"]) == (1, "x")
    assert "gambolputty" in decoded
    assert (event["a"], event["data"]) == (1, "x")


def test_encode_keep_original() -> None:
    module = parser(action="encode", source_fields="a", target_field="j", keep_original=True)
    [event] = run(module, [{"a": 1}])
    assert (event["a"], event["j"]) == (1, '{"a":1}')


def test_encode_writes_bytes_and_odd_types_as_text() -> None:
    module = parser(action="encode", source_fields=["b", "s"], target_field="j")
    [event] = run(module, [{"b": b"ok\xff", "s": {3}}])
    assert json.loads(event["j"]) == {"b": "ok\\xff", "s": [3]}


def test_encode_missing_sources_pass_on_untouched() -> None:
    module = parser(action="encode", source_fields="a", target_field="j")
    [event] = run(module, [{"data": "x"}])
    assert "j" not in event
    assert errors_of(event) == []


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        pytest.param(2**70, "Integer exceeds 64-bit range", id="huge-int"),
        pytest.param("\udcff", "surrogates not allowed", id="surrogate"),
    ],
)
def test_encode_failures_are_tagged_and_sources_kept(value: Any, reason: str) -> None:
    module = parser(action="encode", source_fields="a", target_field="j")
    [event] = run(module, [{"a": value}])
    assert reason in reasons(event)[0]
    assert event["a"] == value
    assert "j" not in event


def test_encode_over_deep_nesting_is_tagged() -> None:
    deep: Any = "x"
    for _ in range(300):
        deep = [deep]
    [event] = run(parser(action="encode", source_fields="a", target_field="j"), [{"a": deep}])
    assert "could not encode" in reasons(event)[0]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"action": "parse"}, "action"),
        ({"max_fan_out": 0}, "max_fan_out"),
        ({"mode": "chunk"}, "mode"),
        ({"source_fields": 5}, "source_fields"),
        ({"target_field": "a..b"}, "target_field"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_bad_options_are_rejected(options: dict[str, Any], message: str) -> None:
    with pytest.raises(BuildError, match=message):
        parser(**options)
