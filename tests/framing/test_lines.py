from __future__ import annotations

import random

import pytest

from gp_celery.event import META, RECEIVED_FROM, SOURCE_MODULE, Event
from gp_celery.framing import (
    INVALID_UTF8,
    Chunk,
    Framing,
    compile_separator,
    cutter,
    decode_chunk,
    decode_record,
    truncate_utf8,
)
from gp_celery.framing.cut import LineCutter
from tests.inputs.conftest import errors


def frame(chunks: list[bytes], **spec: object) -> list[Event]:
    """Cut a stream as a listener does, then decode the pieces as a worker does."""
    if "max_line_bytes" in spec:  # the option's name for the record size limit
        spec["max_record_bytes"] = spec.pop("max_line_bytes")
    framing = Framing(**spec)  # type: ignore[arg-type]
    cut = cutter(framing, "peer")
    pieces = [piece for chunk in chunks for piece in cut.feed(chunk)] + cut.close()
    return decode_chunk(Chunk("test", "Test", framing, pieces)).events


def data(events: list[Event]) -> list[str]:
    return [event["data"] for event in events]


def test_lines_are_split_at_the_separator_and_carry_metadata() -> None:
    events = frame([b"one\ntwo\nthree\n"])
    assert data(events) == ["one", "two", "three"]
    assert events[0][META][SOURCE_MODULE] == "Test"
    assert events[0][META][RECEIVED_FROM] == "peer"
    assert len({event[META]["event_id"] for event in events}) == 3


def test_close_turns_the_last_partial_line_into_an_event() -> None:
    assert data(frame([b"one\ntw", b"o"])) == ["one", "two"]
    assert frame([]) == []
    assert data(frame([b"one\n"])) == ["one"]


@pytest.mark.parametrize("separator", ["\n", "\r\n", "||", "\x00"])
def test_a_separator_split_across_chunks_is_found(separator: str) -> None:
    text = separator.join(["alpha", "beta", "gamma"]).encode() + separator.encode()
    for cut in range(1, len(text)):
        events = frame([text[:cut], text[cut:]], separator=separator)
        assert data(events) == ["alpha", "beta", "gamma"], cut


def test_a_multibyte_character_split_across_chunks_is_decoded_whole() -> None:
    text = "naïve €uro 𝄞 clef\n".encode()
    for cut in range(1, len(text)):
        events = frame([text[:cut], text[cut:]])
        assert data(events) == ["naïve €uro 𝄞 clef"]
        assert errors(events[0]) == []


@pytest.mark.parametrize("limit", [1 << 20, 7])
@pytest.mark.parametrize("separator", ["\n", "\r\n", r"regex:\r?\n"])
def test_any_chunking_gives_the_same_events_as_one_chunk(limit: int, separator: str) -> None:
    rng = random.Random(7)
    alphabet = [b"a", b"b", b" ", "é".encode(), b"\t", "€".encode(), b"\r", b"\n", b"\r\n", b"\xff"]
    raw = b"".join(rng.choice(alphabet) for _ in range(4000))
    spec: dict[str, object] = {"keep_separator": True, "max_line_bytes": limit}
    if separator.startswith("regex:"):
        spec["regex"] = separator.removeprefix("regex:")
    else:
        spec["separator"] = separator

    def summary(events: list[Event]) -> list[tuple[str, list[str]]]:
        return [(event["data"], errors(event)) for event in events]

    whole = summary(frame([raw], **spec))
    for _ in range(20):
        cuts = sorted(rng.sample(range(1, len(raw)), 30))
        chunks = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
        assert summary(frame(chunks, **spec)) == whole
    if limit > len(raw):
        assert "".join(text for text, _ in whole) == raw.decode(errors="replace")


def test_keep_separator_keeps_newline_and_crlf_in_data() -> None:
    events = frame([b"a\nb\r\nc\rd\x0be\n\nlast"], keep_separator=True)
    assert data(events) == ["a\n", "b\r\n", "c\rd\x0be\n", "\n", "last"]


def test_keep_separator_never_splits_at_unicode_line_breaks() -> None:
    text = "x\u2028y\x85z\x1cw\n".encode()
    assert data(frame([text], keep_separator=True)) == ["x\u2028y\x85z\x1cw\n"]


def test_strip_removes_ascii_whitespace_and_drops_empty_lines() -> None:
    events = frame([b"  one\r\n\r\n \t \ntwo\xc2\xa0\n"], strip=True)
    assert data(events) == ["one", "two\xa0"]  # NBSP is data, not whitespace


def test_empty_lines_are_events_without_strip() -> None:
    assert data(frame([b"\n\nx\n"])) == ["", "", "x"]


def test_regex_separator_wins_and_may_span_chunks() -> None:
    spec = {"regex": r"\r?\n|;", "separator": "|"}
    assert data(frame([b"a;b\r", b"\nc|d\n"], **spec)) == ["a", "b", "c|d"]


def test_regex_separator_is_kept_when_asked() -> None:
    events = frame([b"a\r\nb\n"], regex=r"\r?\n", keep_separator=True)
    assert data(events) == ["a\r\n", "b\n"]


@pytest.mark.parametrize("pattern", ["", "x*", "(?:)", "("])
def test_bad_or_empty_matching_regex_separators_are_rejected(pattern: str) -> None:
    with pytest.raises(ValueError, match=r"empty string|regular expression"):
        compile_separator(pattern)


def test_invalid_utf8_is_replaced_and_only_that_line_tagged() -> None:
    events = frame([b"good\nbad \xff\xfe\ngood too\n"])
    assert data(events) == ["good", "bad \ufffd\ufffd", "good too"]
    assert [errors(event) for event in events] == [[], [INVALID_UTF8], []]


def test_nul_bytes_and_binary_garbage_are_data() -> None:
    garbage = bytes(range(256)).replace(b"\n", b"")
    events = frame([b"a\x00b\n", garbage + b"\n"])
    assert data(events)[0] == "a\x00b"
    assert errors(events[1]) == [INVALID_UTF8]
    assert len(events) == 2


def test_an_overlong_line_in_one_chunk_is_truncated_and_tagged() -> None:
    events = frame([b"short\n" + b"x" * 100 + b"\nafter\n"], max_line_bytes=10)
    assert data(events) == ["short", "x" * 10, "after"]
    assert errors(events[1]) == ["line of 100 bytes exceeds max_line_bytes=10; truncated"]
    assert errors(events[0]) == errors(events[2]) == []


def test_an_overlong_line_over_many_chunks_keeps_memory_bounded() -> None:
    framing = Framing(max_record_bytes=1000)
    cut = LineCutter(framing, "peer")
    pieces = cut.feed(b"before\n")
    chunk = b"y" * 4096
    for _ in range(5000):  # 20 MB without a separator
        assert cut.feed(chunk) == []
        assert cut.buffered_bytes <= 1000 + len(chunk)
    pieces += cut.feed(b"tail\nnext\n") + cut.close()
    events = decode_chunk(Chunk("test", "Test", framing, pieces[1:])).events
    assert data(events) == ["y" * 1000, "next"]
    size = 5000 * 4096 + 4
    assert errors(events[0]) == [f"line of {size} bytes exceeds max_line_bytes=1000; truncated"]


def test_an_overlong_line_at_end_of_stream_is_flushed_and_tagged() -> None:
    events = frame([b"z" * 3000, b"z" * 3000], max_line_bytes=100)
    assert data(events) == ["z" * 100]
    assert errors(events[0]) == ["line of 6000 bytes exceeds max_line_bytes=100; truncated"]


def test_a_multibyte_separator_spanning_chunks_ends_an_overlong_line() -> None:
    events = frame([b"q" * 50 + b"\r", b"\nok\r\n"], separator="\r\n", max_line_bytes=10)
    assert data(events) == ["q" * 10, "ok"]
    assert errors(events[0]) == ["line of 50 bytes exceeds max_line_bytes=10; truncated"]


def test_truncation_does_not_split_a_character() -> None:
    assert truncate_utf8("aé€".encode(), 4) == b"a\xc3\xa9"
    events = frame([("é" * 10 + "\n").encode()], max_line_bytes=5)
    assert data(events) == ["éé"]
    assert errors(events[0]) == ["line of 20 bytes exceeds max_line_bytes=5; truncated"]


def test_non_ascii_lines_are_measured_in_bytes_on_the_fast_path() -> None:
    line = "€" * 40  # 40 characters, 120 bytes
    events = frame([((line + "\n") * 3).encode()], max_line_bytes=100)
    assert [len(d) for d in data(events)] == [33, 33, 33]
    assert all(errors(event) for event in events)


def test_stream_mode_keeps_each_chunk_and_its_bytes() -> None:
    chunks = [b"\x93\x01\xa2hi\n", b"  \xff\x00 ", b"\xe2\x82"]
    events = frame(chunks, kind="stream")
    assert len(events) == 3
    assert [d.encode("utf-8", "surrogateescape") for d in data(events)] == chunks
    assert all(errors(event) == [] for event in events)


def test_decode_record_truncates_and_tags() -> None:
    assert decode_record(b" hi", 3, 100, b"\n") == (" hi\n", [])
    text, reasons = decode_record(b"\xff" + b"a" * 20, 21, 10, what="datagram")
    assert text == "\ufffd" + "a" * 9
    assert reasons == ["datagram of 21 bytes exceeds max_line_bytes=10; truncated", INVALID_UTF8]


@pytest.mark.parametrize("spec", [{"separator": ""}, {"max_record_bytes": 0}])
def test_a_bad_framing_is_refused(spec: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"empty|at least"):
        Framing(**spec)  # type: ignore[arg-type]


def test_a_regex_matching_nothing_is_refused_by_the_framing() -> None:
    with pytest.raises(ValueError, match="empty string"):
        Framing(regex="a*")


def multiline(chunks: list[bytes], signal: str | None, limit: int = 1 << 20) -> list[Event]:
    return frame(
        chunks, kind="multiline", keep_separator=True, max_line_bytes=limit, end_signal=signal
    )


def test_multiline_blocks_end_at_the_signal_line() -> None:
    raw = b"a\nb\nEND\nc\n"
    for cut in range(1, len(raw)):
        events = multiline([raw[:cut], raw[cut:]], "END\n")
        assert data(events) == ["a\nb\n", "c\n"]


def test_multiline_signal_written_without_newline_matches_too() -> None:
    assert data(multiline([b"a\nEND\r\nb"], "END")) == ["a\n", "b"]


def test_multiline_without_signal_is_one_block_until_end_of_stream() -> None:
    assert data(multiline([b"a\n", b"b\nc"], None)) == ["a\nb\nc"]


def test_multiline_block_over_the_limit_is_cut_at_a_line_and_tagged() -> None:
    events = multiline([b"1234\n" * 10 + b"END\nnext\n"], "END\n", limit=12)
    assert data(events) == ["1234\n1234\n", "next\n"]
    assert errors(events[0]) == ["block of 50 bytes exceeds max_line_bytes=12; truncated"]
    assert errors(events[1]) == []


def test_multiline_block_is_tagged_for_the_invalid_text_it_keeps() -> None:
    events = multiline([b"ok\n\xff\nEND\nfine\n"], "END\n")
    assert [errors(event) for event in events] == [[INVALID_UTF8], []]
