from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gp_celery.event import errors_of
from gp_celery.testing import BuildError, build, run

TEXT = "I cut down trees, I skip and jump, I like to press wild flowers."
ENCODED = base64.b64encode(TEXT.encode()).decode()


def reasons(event: dict[str, Any]) -> list[str]:
    return [error["reason"] for error in errors_of(event)]


def parser(**options: Any) -> Any:
    return build("Base64Parser", options)


def test_lumbermill_decode_test_in_place() -> None:
    [event] = run(parser(), [{"data": ENCODED}])
    assert event["data"] == TEXT


def test_lumbermill_encode_test_with_source_and_target() -> None:
    module = build("parser.Base64", {"action": "encode", "source_field": "a", "target_field": "b"})
    [event] = run(module, [{"a": TEXT}])
    assert event["b"] == ENCODED
    assert "a" not in event


def test_keep_original_keeps_the_source() -> None:
    [event] = run(parser(target_field="text", keep_original=True), [{"data": ENCODED}])
    assert (event["text"], event["data"]) == (TEXT, ENCODED)


def test_wrapped_base64_and_bytes_decode() -> None:
    wrapped = "\r\n".join(ENCODED[i : i + 20] for i in range(0, len(ENCODED), 20))
    out = run(parser(), [{"data": wrapped}, {"data": ENCODED.encode()}])
    assert [event["data"] for event in out] == [TEXT, TEXT]


def test_binary_content_is_written_as_bytes_and_counted() -> None:
    module = parser()
    [event] = run(module, [{"data": base64.b64encode(b"\x00\xff\xfe").decode()}])
    assert event["data"] == b"\x00\xff\xfe"
    assert errors_of(event) == []
    assert module.stats.counts["binary"] == 1


def test_encode_takes_bytes_as_they_are() -> None:
    [event] = run(parser(action="encode"), [{"data": b"\xff\x00"}])
    assert event["data"] == "/wA="


def test_round_trip_of_unicode_text() -> None:
    [encoded] = run(parser(action="encode"), [{"data": "Spam ä € 🐍"}])
    [decoded] = run(parser(), [encoded])
    assert decoded["data"] == "Spam ä € 🐍"


def test_missing_source_passes_untouched() -> None:
    module = parser()
    [event] = run(module, [{"other": 1}])
    assert errors_of(event) == []
    assert module.stats.counts["missing_source"] == 1


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        pytest.param("SSBjdXQ", "Incorrect padding", id="truncated"),
        pytest.param("SSB*dXQ=", "Only base64 data is allowed", id="malformed"),
        pytest.param("SSBjdXQ=" + "A" * 5, "is not valid base64", id="trailing-garbage"),
        pytest.param("äbc=", "non-ASCII character at 0", id="non-ascii"),
        pytest.param(b"SSB\xffdXQ=", "Only base64 data is allowed", id="invalid-utf8"),
        pytest.param("\udcff", "non-ASCII character", id="lone-surrogate"),
        pytest.param(5, "'data' is int, not base64 text", id="int"),
        pytest.param(None, "'data' is NoneType, not base64 text", id="none"),
        pytest.param(["SSBj"], "'data' is list, not base64 text", id="list"),
    ],
)
def test_hostile_values_are_tagged_and_nothing_is_lost(value: Any, reason: str) -> None:
    out = run(parser(target_field="text"), [{"data": value}, {"data": ENCODED}])
    assert len(out) == 2
    assert reason in reasons(out[0])[0]
    assert out[0]["data"] == value
    assert "text" not in out[0]
    assert out[1]["text"] == TEXT


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        pytest.param("\udcff", "cannot be encoded as UTF-8", id="lone-surrogate"),
        pytest.param(5, "'data' is int, not text or bytes", id="int"),
        pytest.param(None, "'data' is NoneType, not text or bytes", id="none"),
    ],
)
def test_encode_tags_what_has_no_bytes(value: Any, reason: str) -> None:
    [event] = run(parser(action="encode"), [{"data": value}])
    assert reason in reasons(event)[0]
    assert event["data"] == value


def test_oversize_value_decodes() -> None:
    big = b"x" * 10_000_000
    [event] = run(parser(), [{"data": base64.b64encode(big)}])
    assert event["data"] == big.decode()


@pytest.mark.parametrize("options", [{"action": "rot13"}, {"source_field": ["a", "b"]}])
def test_bad_options_are_refused_at_load(options: dict[str, Any]) -> None:
    with pytest.raises(BuildError):
        parser(**options)


DECODER = parser(target_field="out")


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200)))
def test_any_bytes_or_text_never_raise_and_every_event_comes_out(value: Any) -> None:
    out = run(DECODER, [{"data": value}, {"other": 1}])
    assert len(out) == 2
    assert ("out" in out[0]) != bool(errors_of(out[0]))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_encode_then_decode_gives_back_the_bytes(value: bytes) -> None:
    [encoded] = run(parser(action="encode"), [{"data": value}])
    [decoded] = run(DECODER, [encoded])
    out = decoded["out"]
    assert (out if isinstance(out, bytes) else out.encode()) == value
