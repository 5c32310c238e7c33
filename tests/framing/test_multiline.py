"""Lines joined by regexes (join_before / join_after): python-beaver's multiline."""

from __future__ import annotations

import pytest

from gp_celery.framing import Chunk, Framing, Piece, cutter, decode_chunk
from gp_celery.framing.multiline import JoinedLinesCutter
from tests.inputs.conftest import errors

TRACE = b"Traceback:\n  File x\n  File y\nValueError\nnext line\n"


def cut_all(framing: Framing, *reads: bytes) -> list[Piece]:
    cut = cutter(framing, "test")
    pieces = [piece for data in reads for piece in cut.feed(data)]
    return pieces + cut.close()


def texts(framing: Framing, pieces: list[Piece]) -> list[str]:
    return [event["data"] for event in decode_chunk(Chunk("n", "File", framing, pieces)).events]


def test_indented_lines_join_the_line_before_them() -> None:
    framing = Framing(kind="multiline", join_before=r"\s")
    assert texts(framing, cut_all(framing, TRACE)) == [
        "Traceback:\n  File x\n  File y",
        "ValueError",
        "next line",
    ]


def test_a_line_ending_in_a_backslash_joins_the_next() -> None:
    framing = Framing(kind="multiline", join_after=r".*\\$")
    raw = b"one \\\ntwo \\\nthree\nfour\n"
    assert texts(framing, cut_all(framing, raw)) == ["one \\\ntwo \\\nthree", "four"]


@pytest.mark.parametrize("size", [1, 3, 7, 64])
def test_records_are_the_same_however_the_stream_is_read(size: int) -> None:
    framing = Framing(kind="multiline", join_before=r"\s")
    reads = [TRACE[start : start + size] for start in range(0, len(TRACE), size)]
    assert texts(framing, cut_all(framing, *reads)) == texts(framing, cut_all(framing, TRACE))


def test_the_open_record_is_held_until_released_and_counted_as_held_bytes() -> None:
    framing = Framing(kind="multiline", join_before=r"\s")
    cut = cutter(framing, "test")
    assert isinstance(cut, JoinedLinesCutter)
    pieces = cut.feed(b"first\n  more\nsecond\n  more\npartial")
    assert texts(framing, pieces) == ["first\n  more"]
    held = len(b"second\n  more\npartial")
    assert cut.held_bytes == held
    released = cut.release()
    assert texts(framing, released) == ["second\n  more"]
    assert cut.held_bytes == len(b"partial")
    assert texts(framing, cut.close()) == ["partial"]
    assert cut.held_bytes == 0


def test_keep_separator_keeps_the_records_last_separator() -> None:
    framing = Framing(kind="multiline", join_before=r"\s", keep_separator=True)
    assert texts(framing, cut_all(framing, b"a\n b\nc\n")) == ["a\n b\n", "c\n"]


def test_an_overlong_record_keeps_whole_lines_and_is_tagged_with_its_size() -> None:
    framing = Framing(kind="multiline", join_before=r"\s", max_record_bytes=24)
    raw = b"head\n" + b"  continuation\n" * 5 + b"next\n"
    pieces = cut_all(framing, raw)
    events = decode_chunk(Chunk("n", "File", framing, pieces)).events
    assert [event["data"] for event in events] == ["head\n  continuation", "next"]
    assert errors(events[0]) == [
        f"block of {len(raw) - 5} bytes exceeds max_line_bytes=24; truncated"
    ]
    assert errors(events[1]) == []


def test_an_overlong_line_inside_a_record_is_cut_and_the_stream_goes_on() -> None:
    framing = Framing(kind="multiline", join_before=r"\s", max_record_bytes=8)
    events_text = texts(framing, cut_all(framing, b"a\n " + b"x" * 100 + b"\nb\n"))
    assert events_text[-1] == "b"
    assert len(events_text) == 2


def test_invalid_utf8_in_a_record_is_replaced_and_tagged() -> None:
    framing = Framing(kind="multiline", join_before=r"\s")
    events = decode_chunk(Chunk("n", "File", framing, cut_all(framing, b"a\n \xff\n"))).events
    assert events[0]["data"] == "a\n \ufffd"
    assert errors(events[0]) == ["invalid UTF-8 replaced"]


def test_source_field_puts_each_records_source_into_the_event() -> None:
    framing = Framing(source_field="filename")
    pieces = cutter(framing, "/var/log/app.log").feed(b"one\ntwo\n")
    events = decode_chunk(Chunk("n", "File", framing, pieces)).events
    assert [event["filename"] for event in events] == ["/var/log/app.log"] * 2


def test_a_bad_join_regex_is_refused_with_its_detail() -> None:
    with pytest.raises(ValueError, match="bad regular expression: missing \\), unterminated"):
        Framing(kind="multiline", join_before="(oops")


def test_framings_with_join_regexes_cross_the_wire_unchanged() -> None:
    framing = Framing(kind="multiline", join_after="x", source_field="filename")
    assert Framing.from_wire(framing.to_wire()) == framing


def test_line_cutter_held_bytes_count_an_overlong_lines_skipped_bytes() -> None:
    framing = Framing(max_record_bytes=4)
    cut = cutter(framing, "test")
    fed = b"ok\n" + b"y" * 50
    cut.feed(fed)
    assert cut.held_bytes == 50  # type: ignore[attr-defined]
