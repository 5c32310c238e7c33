from __future__ import annotations

from typing import Any

import pytest

from gp_celery.config import ConfigError, parse_config
from gp_celery.event import EVENT_ID, errors_of, metadata
from gp_celery.testing import BuildError, build, run


def parser(**options: Any) -> Any:
    return build("LineParser", options)


def test_spec_example_one_event_per_part() -> None:
    out = run(parser(seperator="|"), [{"data": "message-a|message-b|message-c"}])
    assert [e["data"] for e in out] == ["message-a", "message-b", "message-c"]


def test_lumbermill_alias() -> None:
    assert type(build("parser.Line")).__name__ == "LineParser"


def test_default_separator_is_newline() -> None:
    out = run(parser(), [{"data": "a\nb"}])
    assert [e["data"] for e in out] == ["a", "b"]


def test_copies_get_derived_ids_and_the_first_part_reuses_the_event() -> None:
    out = run(parser(), [{"data": "a\nb\nc", "other": {"x": 1}}])
    first = metadata(out[0])[EVENT_ID]
    assert [metadata(e)[EVENT_ID] for e in out] == [first, f"{first}.1", f"{first}.2"]
    assert all(e["other"] == {"x": 1} for e in out)
    out[1]["other"]["x"] = 2
    assert out[2]["other"]["x"] == 1  # deep copies


def test_empty_parts_make_events_with_empty_data() -> None:
    out = run(parser(), [{"data": "a\n\nb\n"}])
    assert [e["data"] for e in out] == ["a", "", "b", ""]


def test_text_without_separator_is_one_event() -> None:
    out = run(parser(seperator=";"), [{"data": "abc"}])
    assert [e["data"] for e in out] == ["abc"]


def test_target_field_and_source_removal() -> None:
    out = run(parser(source_fields="raw", target_field="line"), [{"raw": "a\nb"}])
    assert [e["line"] for e in out] == ["a", "b"]
    assert all("raw" not in e for e in out)


def test_keep_original_keeps_the_source_in_every_event() -> None:
    module = parser(source_fields="raw", target_field="line", keep_original=True)
    out = run(module, [{"raw": "a\nb"}])
    assert [(e["line"], e["raw"]) for e in out] == [("a", "a\nb"), ("b", "a\nb")]


def test_dotted_source_and_target() -> None:
    module = parser(source_fields="in.text", target_field="out.line")
    out = run(module, [{"in": {"text": "a\nb", "keep": 1}}])
    assert [e["out"]["line"] for e in out] == ["a", "b"]
    assert all(e["in"] == {"keep": 1} for e in out)


def test_several_source_fields_parts_in_order() -> None:
    out = run(parser(source_fields=["a", "b"]), [{"a": "1\n2", "b": "3"}])
    assert [e["data"] for e in out] == ["1", "2", "3"]
    assert all("a" not in e and "b" not in e for e in out)


def test_bytes_are_split_and_stay_bytes_even_invalid_utf8() -> None:
    out = run(parser(seperator="é"), [{"data": b"\xff\xfe" + "é".encode() + b"ok"}])
    assert [e["data"] for e in out] == [b"\xff\xfe", b"ok"]
    assert all(errors_of(e) == [] for e in out)


def test_event_without_source_passes_on_unchanged_and_is_counted() -> None:
    """GambolPutty dropped such events; here they go on."""
    module = parser()
    out = run(module, [{"other": "x"}])
    assert len(out) == 1
    assert out[0]["other"] == "x"
    assert errors_of(out[0]) == []
    assert module.stats.counts["missing_source"] == 1


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        pytest.param(42, "'data' is int, not text", id="int"),
        pytest.param(None, "'data' is NoneType, not text", id="none"),
        pytest.param(["a\nb"], "'data' is list, not text", id="list"),
        pytest.param({"a": "b"}, "'data' is dict, not text", id="dict"),
    ],
)
def test_wrong_types_are_tagged_and_kept(value: Any, reason: str) -> None:
    events = [{"data": value}, {"data": "x\ny"}]
    out = run(parser(), events)
    assert len(out) == 3
    assert errors_of(out[0])[0]["reason"] == reason
    assert out[0]["data"] == value
    assert [e["data"] for e in out[1:]] == ["x", "y"]


def test_wrong_type_in_one_field_does_not_stop_the_others() -> None:
    out = run(parser(source_fields=["a", "b"]), [{"a": 1, "b": "x\ny"}])
    assert [e["data"] for e in out] == ["x", "y"]
    assert out[0]["a"] == 1
    assert "'a' is int" in errors_of(out[0])[0]["reason"]


@pytest.mark.parametrize(
    ("value", "count"),
    [
        pytest.param("x" * 10_000_000, 1, id="10MB-one-line"),
        pytest.param("0123456789" * 1_000_000, 1, id="10MB-digits"),
        pytest.param(("y" * 99 + "\n") * 20_000, 20_001, id="2MB-20k-lines"),
        pytest.param(bytes(range(256)) * 40_000, 40_001, id="10MB-binary-garbage"),
        pytest.param(b"\xff\xfe\n\xc3", 2, id="invalid-utf8"),
        pytest.param("", 1, id="empty"),
        pytest.param("\n" * 1000, 1001, id="only-separators"),
    ],
)
def test_oversize_and_garbage_fan_out_to_the_documented_count(value: Any, count: int) -> None:
    out = run(parser(), [{"data": value}])
    assert len(out) == count
    sep = b"\n" if isinstance(value, bytes) else "\n"
    assert sep.join(e["data"] for e in out) == value  # nothing lost


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"seperator": ""}, "seperator"),
        ({"separator": "|"}, "separator"),
        ({"target_field": ""}, "target_field"),
        ({"source_fields": [1]}, "source_fields"),
    ],
)
def test_bad_options_are_rejected(options: dict[str, Any], message: str) -> None:
    with pytest.raises(BuildError, match=message):
        parser(**options)


def test_lumbermill_source_field_spelling() -> None:
    out = run(parser(source_field="raw", seperator="|"), [{"raw": "message-a|message-b"}])
    assert [event["data"] for event in out] == ["message-a", "message-b"]
    assert all("raw" not in event for event in out)


def test_source_field_and_source_fields_together_are_a_located_error() -> None:
    text = "- LineParser:\n    source_fields: [a]\n    source_field: b\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "p.yml")
    assert str(caught.value) == (
        "p.yml:3: LineParser: source_field: set 'source_fields' or 'source_field', not both"
    )
