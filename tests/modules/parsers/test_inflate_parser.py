from __future__ import annotations

import gzip
import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gp_celery.config import parse_config
from gp_celery.event import errors_of
from gp_celery.testing import BuildError, build, pipeline, run

SPAM = "Spam! Spam! Spam! Lovely Spam! Spam! Spam!"
MIB = 1024 * 1024


def parser(**options: Any) -> Any:
    return build("InflateParser", options)


def reasons(event: dict[str, Any]) -> list[str]:
    return [error["reason"] for error in errors_of(event)]


def deflate_raw(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def test_spec_example_inflates_gzip_back_into_the_source_field() -> None:
    module = parser(source_fields="gzip-compressed")
    [event] = run(module, [{"gzip-compressed": gzip.compress(SPAM.encode())}])
    assert event["gzip-compressed"] == SPAM
    assert errors_of(event) == []


def test_spec_example_target_fields_keep_the_original() -> None:
    module = parser(source_fields="gzip-compressed", target_fields="gzip-inflated")
    packed = gzip.compress(SPAM.encode())
    [event] = run(module, [{"gzip-compressed": packed}])
    assert (event["gzip-compressed"], event["gzip-inflated"]) == (packed, SPAM)


def test_spec_example_two_sources_and_two_targets_work_pairwise() -> None:
    module = parser(source_fields=["a", "b"], target_fields=["x", "y"])
    [event] = run(module, [{"a": gzip.compress(b"first"), "b": gzip.compress(b"second")}])
    assert (event["x"], event["y"]) == ("first", "second")


def test_target_fields_of_another_length_are_a_load_error() -> None:
    with pytest.raises(BuildError, match="give one target per source"):
        parser(source_fields=["a", "b"], target_fields=["x"])


def test_unknown_compression_is_a_load_error() -> None:
    with pytest.raises(BuildError, match="compression"):
        parser(compression="brotli")


def test_lumbermill_alias_builds_the_same_module() -> None:
    assert type(build("parser.Inflate")).__name__ == "InflateParser"


@pytest.mark.parametrize(
    "packed",
    [zlib.compress(SPAM.encode()), gzip.compress(SPAM.encode())],
    ids=["zlib-header", "gzip-header"],
)
def test_zlib_detects_a_zlib_or_gzip_header(packed: bytes) -> None:
    [event] = run(parser(compression="zlib"), [{"data": packed}])
    assert event["data"] == SPAM


def test_deflate_takes_raw_deflate_data() -> None:
    [event] = run(parser(compression="deflate"), [{"data": deflate_raw(SPAM.encode())}])
    assert event["data"] == SPAM


def test_gzip_refuses_zlib_data() -> None:
    [event] = run(parser(), [{"data": zlib.compress(b"x")}])
    assert reasons(event)[0].startswith("'data' is not valid gzip data")


def test_concatenated_gzip_members_inflate_as_one() -> None:
    packed = gzip.compress(b"Lovely ") + gzip.compress(b"Spam") + b"\x00" * 8
    [event] = run(parser(), [{"data": packed}])
    assert event["data"] == "Lovely Spam"


def test_bytes_that_are_not_utf8_are_kept_with_surrogateescape_untagged() -> None:
    module = parser()
    [event] = run(module, [{"data": gzip.compress(b"\x81\xff binary")}])
    assert event["data"].encode("utf-8", "surrogateescape") == b"\x81\xff binary"
    assert errors_of(event) == []
    assert module.stats.counts["not_utf8"] == 1


def test_surrogateescape_text_from_an_input_is_read_as_its_bytes() -> None:
    packed = gzip.compress(SPAM.encode()).decode("utf-8", "surrogateescape")
    [event] = run(parser(), [{"data": packed}])
    assert event["data"] == SPAM


def test_a_gzipped_datagram_reaches_it_whole_from_a_udp_server() -> None:
    """Datagram framing strips whitespace and replaces invalid UTF-8: both break gzip."""
    packed = gzip.compress(b"GELF " * 50, mtime=0)  # bytes that are not UTF-8
    config = parse_config("", "<test>", data=[{"UdpServer": {"port": 0}}, {"InflateParser": {}}])
    udp = pipeline(config).nodes[config.nodes[0].id].module
    [arrived] = run(udp, [{"data": packed}])
    assert arrived["data"].encode("utf-8", "surrogateescape") == packed
    [event] = run(parser(), [arrived])
    assert event["data"] == "GELF " * 50


def test_missing_source_field_is_skipped_and_counted() -> None:
    module = parser(source_fields=["a", "b"])
    [event] = run(module, [{"b": gzip.compress(b"there")}])
    assert event == {**event, "b": "there"}
    assert "a" not in event
    assert errors_of(event) == []
    assert module.stats.counts["missing_source"] == 1


def test_a_decompression_bomb_is_tagged_at_the_cap_and_left_compressed() -> None:
    bomb = gzip.compress(b"\x00" * (64 * MIB))  # 64 KiB that would become 64 MiB
    module = parser(max_inflated_bytes=MIB)
    out = run(module, [{"data": bomb}, {"data": gzip.compress(b"ok")}])
    assert reasons(out[0]) == [f"'data' inflates to over max_inflated_bytes={MIB}"]
    assert out[0]["data"] == bomb
    assert out[1]["data"] == "ok"


def test_a_bomb_split_over_gzip_members_is_capped_over_all_of_them() -> None:
    member = gzip.compress(b"a" * 600)
    [event] = run(parser(max_inflated_bytes=1000), [{"data": member * 2}])
    assert reasons(event) == ["'data' inflates to over max_inflated_bytes=1000"]


def test_exactly_max_inflated_bytes_is_allowed() -> None:
    [event] = run(parser(max_inflated_bytes=1000), [{"data": gzip.compress(b"a" * 1000)}])
    assert event["data"] == "a" * 1000


def test_default_cap_is_16_mib() -> None:
    assert parser().options.max_inflated_bytes == 16 * MIB


GOOD = gzip.compress(SPAM.encode(), mtime=0)  # fixed bytes: test ids must not vary by run


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"not compressed at all", "'data' is not valid gzip data"),
        (GOOD[:-4], "'data' is truncated gzip data"),
        (GOOD[:5], "'data' is truncated gzip data"),
        (b"", "'data' is truncated gzip data"),
        (GOOD + b"trailing junk", "'data' has 13 bytes after the gzip data"),
        (GOOD[:-8] + b"\x00" * 4 + GOOD[-4:], "'data' is not valid gzip data (Error -3"),
        (b"\xff\xfe\xfd" * 100, "'data' is not valid gzip data"),
        (42, "'data' is int, not compressed bytes"),
        (None, "'data' is NoneType, not compressed bytes"),
        ([GOOD], "'data' is list, not compressed bytes"),
        ("text \ud800 with a real surrogate", "'data' is text with surrogates not allowed"),
        ("plain text", "'data' is not valid gzip data"),
    ],
)
def test_hostile_values_are_tagged_and_left_as_they_were(value: Any, reason: str) -> None:
    out = run(parser(), [{"data": value}, {"data": GOOD}])
    assert len(out) == 2
    assert reasons(out[0])[0].startswith(reason)
    assert out[0]["data"] == value
    assert out[1]["data"] == SPAM


def test_oversize_input_inflates_within_the_cap() -> None:
    big = bytes(range(256)) * (4 * 1024)  # 1 MiB that hardly compresses
    [event] = run(parser(), [{"data": gzip.compress(big)}])
    assert event["data"].encode("utf-8", "surrogateescape") == big


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["gzip", "zlib", "deflate"]),
    st.lists(st.one_of(st.binary(max_size=200), st.text(max_size=50)), max_size=5),
)
def test_random_bytes_never_raise_and_every_event_comes_back(
    compression: str, values: list[Any]
) -> None:
    module = MODULES[compression]
    out = run(module, [{"data": value} for value in values])
    assert len(out) == len(values)
    for event in out:
        assert isinstance(event["data"], str) or errors_of(event)


MODULES = {name: parser(compression=name) for name in ("gzip", "zlib", "deflate")}
