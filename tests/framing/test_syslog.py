"""RFC 6587 framing (TcpServer ``mode: syslog``): octet-counted or newline-ended frames."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gp_celery.event import Event
from gp_celery.framing import Chunk, Framing, cutter, decode_chunk
from gp_celery.framing.split import split_chunk
from gp_celery.framing.syslog import BAD_LENGTH, SyslogCutter
from tests.inputs.conftest import errors

MESSAGES = [
    "<13>1 2026-12-01T10:00:00Z host app - - - first",
    "<13>Dec  1 10:00:00 host app: second, with\na newline inside",
    '<165>1 - - - - - [x a="1\\]"] third \u00e9\U0001d11e',
]


def counted(text: str) -> bytes:
    body = text.encode()
    return str(len(body)).encode() + b" " + body


def frame(chunks: list[bytes], limit: int = 1 << 20) -> list[Event]:
    """Cut as a TcpServer's listener does, decode as a worker does."""
    framing = Framing(kind="syslog", strip=True, max_record_bytes=limit)
    cut = cutter(framing, "peer")
    pieces = [piece for chunk in chunks for piece in cut.feed(chunk)] + cut.close()
    return decode_chunk(Chunk("test", "TcpServer", framing, pieces)).events


def data(events: list[Event]) -> list[str]:
    return [event["data"] for event in events]


def test_octet_counted_frames_keep_newlines_inside_messages() -> None:
    events = frame([b"".join(counted(text) for text in MESSAGES)])
    assert data(events) == MESSAGES
    assert all(errors(event) == [] for event in events)


def test_newline_ended_and_counted_frames_mix_frame_by_frame() -> None:
    stream = counted(MESSAGES[0]) + b"<14>plain line\r\n" + counted(MESSAGES[2]) + b"\n<15>end"
    assert data(frame([stream])) == [MESSAGES[0], "<14>plain line", MESSAGES[2], "<15>end"]


def test_any_split_across_reads_gives_the_same_events() -> None:
    stream = b"".join(counted(text) for text in MESSAGES) + b"<1>tail line\n"
    expected = [*MESSAGES, "<1>tail line"]
    for cut in range(1, len(stream)):
        assert data(frame([stream[:cut], stream[cut:]])) == expected, cut
    assert data(frame([bytes([byte]) for byte in stream])) == expected


def test_random_chunking_never_cuts_a_frame() -> None:
    rng = random.Random(6587)
    texts = [f"<13>1 - h a - - - message {n} " + "x" * rng.randrange(300) for n in range(200)]
    stream = b"".join(counted(text) for text in texts)
    for _ in range(20):
        cuts = sorted(rng.sample(range(1, len(stream)), 30))
        parts = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
        assert data(frame(parts)) == texts


def test_a_length_above_the_limit_keeps_the_head_and_skips_the_rest_by_count() -> None:
    big = "<13>1 - - - - - - " + "y" * 10_000
    stream = counted(big) + counted(MESSAGES[0])
    framing = Framing(kind="syslog", strip=True, max_record_bytes=100)
    cut = SyslogCutter(framing, "peer")
    pieces = []
    for start in range(0, len(stream), 512):
        pieces += cut.feed(stream[start : start + 512])
        assert cut.buffered_bytes <= 100 + 512
    pieces += cut.close()
    events = decode_chunk(Chunk("test", "TcpServer", framing, pieces)).events
    assert data(events) == [big[:100], MESSAGES[0]]
    assert errors(events[0]) == [
        f"syslog frame of {len(big)} bytes exceeds max_line_bytes=100; truncated"
    ]
    assert errors(events[1]) == []


def test_a_newline_ended_frame_above_the_limit_is_cut_and_tagged_in_bounded_memory() -> None:
    stream = b"<13>" + b"z" * 5000 + b"\n" + counted(MESSAGES[0])
    events = frame([stream[i : i + 64] for i in range(0, len(stream), 64)], limit=50)
    assert data(events) == ["<13>" + "z" * 46, MESSAGES[0]]
    assert "syslog frame of 5004 bytes exceeds max_line_bytes=50" in errors(events[0])[0]


@pytest.mark.parametrize(
    "bad", [b"12x <13>oops", b"0 <13>zero length", b"1234567890 <13>ten digits", b"7\t<13>tab"]
)
def test_a_bad_length_is_read_up_to_the_next_newline_and_tagged(bad: bytes) -> None:
    events = frame([bad + b"\n" + counted(MESSAGES[0])])
    assert data(events) == [bad.decode(), MESSAGES[0]]
    assert errors(events[0]) == [f"syslog frame {BAD_LENGTH}"]
    assert errors(events[1]) == []


def test_a_frame_cut_short_by_the_end_of_the_stream_is_an_event_tagged() -> None:
    events = frame([b"40 <13>only part"])
    assert data(events) == ["<13>only part"]
    assert errors(events[0]) == ["syslog frame ended 27 bytes before its octet count of 40"]


def test_an_overlong_frame_cut_short_says_so() -> None:
    events = frame([b"5000 <13>" + b"a" * 200], limit=100)
    assert len(events) == 1
    assert errors(events[0])[0].startswith("syslog frame of 5000 bytes exceeds")
    assert "ended 4796 bytes before its octet count of 5000" in errors(events[0])[1]


def test_a_lone_length_at_the_end_of_the_stream_is_tagged() -> None:
    assert errors(frame([b"123"])[0]) == [f"syslog frame {BAD_LENGTH}"]


def test_whitespace_between_frames_makes_no_events() -> None:
    stream = b"\n\n" + counted(MESSAGES[0]) + b"\r\n  \n" + counted(MESSAGES[1]) + b"\n"
    assert data(frame([stream])) == MESSAGES[:2]


def test_invalid_utf8_in_a_counted_frame_is_replaced_and_tagged() -> None:
    body = b"<13>1 - - - - - - caf\xe9"
    events = frame([str(len(body)).encode() + b" " + body])
    assert data(events) == ["<13>1 - - - - - - caf\ufffd"]
    assert errors(events[0]) == ["invalid UTF-8 replaced"]


def test_split_chunk_keeps_every_event_and_its_id() -> None:
    framing = Framing(kind="syslog", strip=True, max_record_bytes=60)
    stream = b"".join(counted(f"<13>1 - - - - - - n{n}") for n in range(7))
    stream += b"9x <13>x\n" + counted("<13>" + "w" * 100) + b"<13>last\n"
    cut = cutter(framing, "peer")
    chunk = Chunk("test", "TcpServer", framing, cut.feed(stream) + cut.close())
    whole = decode_chunk(chunk).events
    assert len(whole) == 10
    parts = split_chunk(chunk)
    assert len(parts) == 2
    halves = [event for part in parts for event in decode_chunk(part).events]
    assert halves == whole


def summary(events: list[Event]) -> list[tuple[str, list[str]]]:
    return [(event["data"], errors(event)) for event in events]


@given(st.lists(st.binary(max_size=40), max_size=20))
@settings(max_examples=500, deadline=None)
def test_random_bytes_never_raise_and_any_chunking_agrees(parts: list[bytes]) -> None:
    assert summary(frame(parts, limit=64)) == summary(frame([b"".join(parts)], limit=64))


@given(st.lists(st.sampled_from([b"1", b"9", b"0", b" ", b"\n", b"<13>", b"a" * 30]), max_size=40))
@settings(max_examples=500, deadline=None)
def test_length_like_bytes_split_anywhere_agree_with_the_whole(parts: list[bytes]) -> None:
    whole = frame([b"".join(parts)], limit=16)
    assert summary(frame(parts, limit=16)) == summary(whole)
    assert summary(frame([bytes([b]) for b in b"".join(parts)], limit=16)) == summary(whole)
