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
    return build("StringEncodingParser", options)


@pytest.mark.parametrize(
    "name", ["StringEncodingParser", "parser.Encoding", "parser.StringEncoding"]
)
def test_lumbermill_names_find_the_module(name: str) -> None:
    assert type(build(name)).__name__ == "StringEncodingParser"


def test_default_decodes_utf8_bytes_in_place() -> None:
    [event] = run(parser(), [{"data": "Spam ä".encode()}])
    assert event["data"] == "Spam ä"


def test_latin1_bytes_decode_into_a_target_and_the_source_goes() -> None:
    [event] = run(parser(encoding="latin-1", target_fields="text"), [{"data": b"caf\xe9"}])
    assert event["text"] == "café"
    assert "data" not in event


def test_text_a_stream_input_kept_as_escapes_is_decoded_from_its_bytes() -> None:
    escaped = b"caf\xe9".decode("utf-8", "surrogateescape")
    [event] = run(parser(encoding="cp1252"), [{"data": escaped}])
    assert event["data"] == "café"


def test_text_that_is_already_decoded_is_left_and_counted() -> None:
    module = parser(encoding="latin-1")
    [event] = run(module, [{"data": "café"}])
    assert event["data"] == "café"
    assert errors_of(event) == []
    assert module.stats.counts["already_text"] == 1


def test_encode_gives_bytes() -> None:
    [event] = run(parser(action="encode", encoding="utf-16-le"), [{"data": "ok"}])
    assert event["data"] == b"o\x00k\x00"


def test_several_fields_pair_up_and_keep_original() -> None:
    module = parser(
        encoding="latin-1",
        source_fields=["a", "b", "c"],
        target_fields=["x", "y", "c"],
        keep_original=True,
    )
    [event] = run(module, [{"a": b"\xe4", "c": b"\xf6"}])
    assert (event["x"], event["c"], event["a"]) == ("ä", "ö", b"\xe4")
    assert "y" not in event
    assert module.stats.counts["missing_source"] == 1


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        pytest.param(b"caf\xe9!", "is not valid utf-8 (invalid continuation byte", id="invalid"),
        pytest.param(b"\xc3", "unexpected end of data at byte 0", id="truncated"),
        pytest.param(b"\xff" * 1_000_000, "invalid start byte at byte 0", id="oversize"),
        pytest.param(5, "'data' is int, not bytes", id="int"),
        pytest.param(None, "'data' is NoneType, not bytes", id="none"),
        pytest.param([b"x"], "'data' is list, not bytes", id="list"),
    ],
)
def test_hostile_values_are_tagged_and_nothing_is_lost(value: Any, reason: str) -> None:
    out = run(parser(target_fields="text"), [{"data": value}, {"data": b"ok"}])
    assert len(out) == 2
    assert reason in reasons(out[0])[0]
    assert out[0]["data"] == value
    assert "text" not in out[0]
    assert out[1]["text"] == "ok"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        pytest.param("café", "cannot be encoded as ascii (ordinal not in range", id="unmappable"),
        pytest.param("a\udcff", "cannot be encoded as ascii", id="lone-surrogate"),
        pytest.param(b"x", "'data' is bytes, not text", id="bytes"),
        pytest.param(5, "'data' is int, not text", id="int"),
    ],
)
def test_encode_tags_what_the_encoding_cannot_hold(value: Any, reason: str) -> None:
    [event] = run(parser(action="encode", encoding="ascii"), [{"data": value}])
    assert reason in reasons(event)[0]
    assert event["data"] == value


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"encoding": "klingon"}, "unknown encoding 'klingon'"),
        ({"encoding": "base64"}, "not a text encoding"),
        ({"encoding": "rot13"}, "not a text encoding"),
        ({"source_fields": ["a", "b"]}, "as many 'target_fields'"),
        ({"action": "transcode"}, "action"),
    ],
)
def test_bad_options_are_refused_at_load(options: dict[str, Any], message: str) -> None:
    with pytest.raises(BuildError, match=message):
        parser(**options)


MODULE = parser(encoding="utf-8", target_fields="text")


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200)))
def test_any_bytes_or_text_never_raise_and_every_event_comes_out(value: Any) -> None:
    out = run(MODULE, [{"data": value}, {"other": 1}])
    assert len(out) == 2
