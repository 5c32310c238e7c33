from __future__ import annotations

import logging
from typing import Any

import msgpack
import pytest

from gp_celery.event import EVENT_ID, errors_of, metadata, new_event
from gp_celery.testing import BuildError, build, run

ORIGINAL = {"data": "It's just a flesh wound", "n": 42, "f": 1.5, "nested": {"l": [1, None, True]}}


def parser(**options: Any) -> Any:
    return build("MsgPackParser", options)


def reasons(event: dict[str, Any]) -> list[str]:
    return [error["reason"] for error in errors_of(event)]


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def chunk(data: Any, peer: str = "10.0.0.1:5000") -> dict[str, Any]:
    """An event as a stream-mode TcpServer makes it."""
    return new_event(data, "TcpServer", received_from=peer)


def test_line_mode_round_trip_like_the_spec_test() -> None:
    [event] = run(parser(), [{"data": msgpack.packb(ORIGINAL)}])
    assert {k: v for k, v in event.items() if k != "gambolputty"} == ORIGINAL


def test_lumbermill_alias() -> None:
    assert type(build("parser.MsgPack")).__name__ == "MsgPackParser"


def test_str_decoded_with_surrogateescape_is_turned_back_into_bytes() -> None:
    text = msgpack.packb({"ä": b"\xff\x00"}).decode("utf-8", errors="surrogateescape")
    [event] = run(parser(), [{"data": text}])
    assert event["ä"] == b"\xff\x00"
    assert errors_of(event) == []


def test_target_field_keep_original_and_non_map_values() -> None:
    packed = msgpack.packb([1, 2])
    [event] = run(parser(target_field="v", keep_original=True), [{"data": packed}])
    assert (event["v"], event["data"]) == ([1, 2], packed)


def test_non_map_without_target_is_tagged_and_kept() -> None:
    [event] = run(parser(), [{"data": msgpack.packb(7)}])
    assert "holds an int, not a map" in reasons(event)[0]
    assert event["data"] == msgpack.packb(7)


def test_list_of_maps_makes_one_event_per_map() -> None:
    out = run(parser(), [{"data": msgpack.packb([{"n": 1}, {"n": 2}])}])
    assert [e["n"] for e in out] == [1, 2]
    assert metadata(out[1])[EVENT_ID] == metadata(out[0])[EVENT_ID] + ".1"


def test_more_maps_than_max_fan_out_tag_the_event() -> None:
    packed = msgpack.packb([{"n": n} for n in range(5)])
    [event] = run(parser(max_fan_out=4), [{"data": packed}])
    assert "holds 5 maps, over max_fan_out=4" in reasons(event)[0]
    assert event["data"] == packed


def test_missing_source_passes_untouched_in_both_modes() -> None:
    for mode in ("line", "stream"):
        module = parser(mode=mode)
        [event] = run(module, [{"other": 1}])
        assert errors_of(event) == []
        assert module.stats.counts["missing_source"] == 1


LINE_HOSTILE = [
    pytest.param(b"\xc1", "invalid format byte", id="malformed"),
    pytest.param(msgpack.packb({"a": 1})[:-1], "incomplete input", id="truncated"),
    pytest.param(msgpack.packb({"a": 1}) + b"\x01", "extra bytes", id="extra-bytes"),
    pytest.param(b"\x91" * 100_000 + b"\x01", "nested too deeply", id="deep-nesting"),
    pytest.param(b"\xdd\xff\xff\xff\xff", "exceeds max_array_len", id="huge-array-claim"),
    pytest.param(b"\xdb\xff\xff\xff\xff", "incomplete input", id="huge-str-claim"),
    pytest.param(b"\xa2\xff\xfe", "can't decode byte 0xff", id="invalid-utf8-str"),
    pytest.param(b"\x81\x01\x02", "not allowed for map key", id="int-map-key"),
    pytest.param(b"\xc1" * 10_000_000, "invalid format byte", id="10MB"),
    pytest.param(bytes(range(256)) * 8, "is not valid msgpack", id="binary-garbage"),
    pytest.param("\ud800", "not undecoded bytes", id="str-with-foreign-surrogate"),
    pytest.param(42, "'data' is int, not msgpack bytes", id="int"),
    pytest.param(None, "'data' is NoneType, not msgpack bytes", id="none"),
    pytest.param([1], "'data' is list, not msgpack bytes", id="list"),
    pytest.param({"a": 1}, "'data' is dict, not msgpack bytes", id="dict"),
]


@pytest.mark.parametrize(("value", "reason"), LINE_HOSTILE)
def test_line_mode_hostile_input_is_tagged_and_kept(value: Any, reason: str) -> None:
    events = [{"data": value}, {"data": msgpack.packb({"ok": True})}]
    out = run(parser(), events)
    assert len(out) == len(events)
    assert reason in reasons(out[0])[0]
    assert out[0]["data"] == value
    assert out[1]["ok"] is True


def test_line_mode_oversize_valid_document_decodes() -> None:
    big = "x" * 10_000_000
    [event] = run(parser(), [{"data": msgpack.packb({"big": big})}])
    assert event["big"] == big


def test_stream_mode_reassembles_objects_across_chunks() -> None:
    stream = b"".join(msgpack.packb({"n": n, "pad": "x" * n}) for n in range(50))
    module = parser(mode="stream")
    out = []
    for start in range(0, len(stream), 7):
        out += run(module, [chunk(stream[start : start + 7])])
    assert [e["n"] for e in out] == list(range(50))
    assert all("data" not in e and errors_of(e) == [] for e in out)


def test_stream_mode_partial_chunk_is_buffered_and_its_event_consumed() -> None:
    packed = msgpack.packb({"n": 1})
    module = parser(mode="stream")
    assert run(module, [chunk(packed[:3])]) == []
    assert module.stats.counts["buffered_chunks"] == 1
    [event] = run(module, [chunk(packed[3:])])
    assert event["n"] == 1


def test_stream_mode_keeps_interleaved_connections_apart() -> None:
    a = msgpack.packb({"from": "a", "text": "first client"})
    b = msgpack.packb({"from": "b", "text": "second client"})
    module = parser(mode="stream")
    out = run(
        module,
        [
            chunk(a[:5], "10.0.0.1:1"),
            chunk(b[:9], "10.0.0.2:2"),
            chunk(a[5:], "10.0.0.1:1"),
            chunk(b[9:], "10.0.0.2:2"),
        ],
    )
    assert [(e["from"], e["text"]) for e in out] == [("a", "first client"), ("b", "second client")]


def test_stream_mode_several_objects_in_one_chunk_fan_out_with_derived_ids() -> None:
    data = msgpack.packb({"n": 1}) + msgpack.packb({"n": 2}) + msgpack.packb({"n": 3})
    out = run(parser(mode="stream"), [chunk(data)])
    assert [e["n"] for e in out] == [1, 2, 3]
    first = metadata(out[0])[EVENT_ID]
    assert [metadata(e)[EVENT_ID] for e in out[1:]] == [f"{first}.1", f"{first}.2"]


def test_stream_mode_non_map_objects_are_kept_in_the_source_field_and_tagged() -> None:
    out = run(parser(mode="stream"), [chunk(msgpack.packb({"n": 1}) + msgpack.packb("hello"))])
    assert out[0]["n"] == 1
    assert out[1]["data"] == "hello"
    assert "held a str, not a map" in reasons(out[1])[0]


def test_stream_mode_target_field_takes_any_object() -> None:
    out = run(parser(mode="stream", target_field="obj"), [chunk(msgpack.packb(5))])
    assert out[0]["obj"] == 5


def test_stream_mode_bad_data_tags_the_chunk_and_restarts_the_stream() -> None:
    module = parser(mode="stream")
    good = msgpack.packb({"n": 1})
    out = run(module, [chunk(good + b"\xc1garbage")])
    assert out[0]["n"] == 1
    assert out[1]["data"] == good + b"\xc1garbage"
    assert "not a valid msgpack stream: invalid format byte" in reasons(out[1])[0]
    [event] = run(module, [chunk(msgpack.packb({"n": 2}))])
    assert event["n"] == 2


def test_stream_mode_full_buffer_is_tagged_and_the_stream_restarts() -> None:
    module = parser(mode="stream", max_buffer_bytes=1024)
    huge = msgpack.packb({"big": "x" * 5000})
    out = run(module, [chunk(huge[:1000]), chunk(huge[1000:2000])])
    assert len(out) == 1
    assert "stream buffer full" in reasons(out[0])[0]
    [event] = run(module, [chunk(msgpack.packb({"n": 3}))])
    assert event["n"] == 3


def test_stream_mode_evicts_the_least_recently_active_stream(
    caplog: pytest.LogCaptureFixture,
) -> None:
    module = parser(mode="stream", max_streams=2)
    packed = msgpack.packb({"n": 1})
    with caplog.at_level(logging.WARNING):
        run(module, [chunk(packed[:2], f"10.0.0.{peer}:1") for peer in range(3)])
    assert module.stats.counts["streams_evicted"] == 1
    assert "more than 2 msgpack streams" in caplog.text
    [event] = run(module, [chunk(packed[2:], "10.0.0.2:1")])
    assert event["n"] == 1
    # The evicted stream lost its start: the rest decodes as two small ints, each tagged.
    lost = run(module, [chunk(packed[2:], "10.0.0.0:1")])
    assert [e["data"] for e in lost] == [ord("n"), 1]
    assert all("not a map" in reasons(e)[0] for e in lost)


STREAM_HOSTILE = [
    pytest.param(b"\xc1", "invalid format byte", id="malformed"),
    pytest.param(b"\x91" * 100_000, "nested too deeply", id="deep-nesting"),
    pytest.param(b"\xa2\xff\xfe", "can't decode byte 0xff", id="invalid-utf8-str"),
    pytest.param(b"\xc1" * 10_000_000, "stream buffer full", id="10MB"),
    pytest.param(bytes(range(256)) * 8, "not a valid msgpack stream", id="binary-garbage"),
    pytest.param(42, "'data' is int, not msgpack bytes", id="int"),
    pytest.param(None, "'data' is NoneType", id="none"),
    pytest.param([b"\x01"], "'data' is list", id="list"),
    pytest.param({"a": 1}, "'data' is dict", id="dict"),
]


@pytest.mark.parametrize(("value", "reason"), STREAM_HOSTILE)
def test_stream_mode_hostile_input_is_tagged_and_kept(value: Any, reason: str) -> None:
    module = parser(mode="stream")
    out = run(module, [chunk(value, "10.0.0.9:9"), chunk(msgpack.packb({"ok": 1}), "10.0.0.8:8")])
    *hostile, ok = out
    assert ok["ok"] == 1
    assert errors_of(ok) == []
    assert reason in reasons(hostile[-1])[0]
    assert hostile[-1]["data"] == value


def test_stream_mode_garbage_that_looks_like_small_ints_becomes_tagged_events() -> None:
    out = run(parser(mode="stream"), [chunk(bytes(range(256)))])
    assert [e["data"] for e in out[:128]] == list(range(128))  # fixints 0x00-0x7f
    assert all("not a map" in reasons(e)[0] for e in out[:128])
    assert errors_of(out[128]) == []  # 0x80 is an empty map: a valid, empty object
    assert "not a valid msgpack stream" in reasons(out[129])[0]
    assert len(out) == 130


def test_encode_fields_into_one_map_in_target() -> None:
    module = parser(action="encode", source_fields=["a", "b"], target_field="packed")
    [event] = run(module, [{"a": 1, "b": "x", "c": 3}])
    assert msgpack.unpackb(event["packed"]) == {"a": 1, "b": "x"}
    assert "a" not in event
    assert event["c"] == 3


def test_encode_all_packs_the_whole_event_into_data_and_stays_a_dict() -> None:
    module = parser(action="encode", source_fields="all")
    [event] = run(module, [{"a": 1, "data": "raw"}])
    assert isinstance(event, dict)
    decoded = msgpack.unpackb(event["data"])
    assert (decoded["a"], decoded["data"]) == (1, "raw")
    assert event["a"] == 1


def test_encode_then_decode_round_trips() -> None:
    encoder = parser(action="encode", source_fields=["a", "b"])
    decoder = parser()
    [event] = run(decoder, run(encoder, [{"a": {"x": [1, 2]}, "b": b"\x00"}]))
    assert (event["a"], event["b"]) == ({"x": [1, 2]}, b"\x00")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        pytest.param("\udcff", "could not encode", id="surrogate"),
    ],
)
def test_encode_failures_are_tagged_and_sources_kept(value: Any, reason: str) -> None:
    [event] = run(parser(action="encode", source_fields="a"), [{"a": value, "data": "x"}])
    assert reason in reasons(event)[0]
    assert (event["a"], event["data"]) == (value, "x")


def test_encode_over_deep_nesting_is_tagged() -> None:
    module = parser(action="encode", source_fields="a")
    event = new_event("x", "test")  # process() directly: run() deep-copies, too deep for copy
    event["a"] = nested(5000)
    [out] = module.process([event])
    assert "could not encode: recursion limit exceeded" in reasons(out)[0]
    assert out["data"] == "x"


def test_encode_odd_types_as_text() -> None:
    [event] = run(parser(action="encode", source_fields=["a", "b"]), [{"a": {1, 2}, "b": 2**70}])
    decoded = msgpack.unpackb(event["data"])
    assert sorted(decoded["a"]) == [1, 2]
    assert decoded["b"] == str(2**70)


@pytest.mark.parametrize(
    "options",
    [{"mode": "chunk"}, {"max_buffer_bytes": 0}, {"max_streams": -1}, {"action": "x"}],
)
def test_bad_options_are_rejected(options: dict[str, Any]) -> None:
    with pytest.raises(BuildError, match=next(iter(options))):
        parser(**options)
