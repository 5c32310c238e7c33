from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import tracemalloc
from pathlib import Path

import pytest

from gp_celery.event import HOSTNAME, META, RECEIVED_FROM, SOURCE_MODULE
from gp_celery.framing import INVALID_UTF8
from gp_celery.testing import BuildError, build
from tests.inputs.conftest import EmitRecorder, errors, run_to_end

SEED_LINE = b' - - [28/Jul/2006:10:27:10 -0300] "GET /cgi-bin/try/ HTTP/1.0" 200 3395\n'
SIGNAL = "Ekki-Ekki-Ekki-Ekki-PTANG\n"


def read_stdin(raw: bytes, **options: object) -> EmitRecorder:
    module = build("StdIn", options)
    module.stream = io.BytesIO(raw)
    return run_to_end(module)


def test_seed_line_keeps_its_newline_in_data() -> None:
    (event,) = read_stdin(SEED_LINE).events
    assert event["data"] == SEED_LINE.decode()
    assert event[META][SOURCE_MODULE] == "StdIn"
    assert event[META][RECEIVED_FROM] == f"stdin://{HOSTNAME}"
    assert "received_from" not in event  # metadata, not GambolPutty's top-level quirk


def test_multiline_with_stream_end_signal_gives_two_events() -> None:
    raw = f"one\ntwo\n{SIGNAL}three\nfour\n".encode()
    events = read_stdin(raw, multiline=True, stream_end_signal=SIGNAL).events
    assert [event["data"] for event in events] == ["one\ntwo\n", "three\nfour\n"]


def test_multiline_without_signal_is_the_whole_text() -> None:
    raw = b"one\ntwo\nthree"
    assert read_stdin(raw, multiline=True).data == ["one\ntwo\nthree"]


def test_end_of_input_flushes_the_last_partial_line() -> None:
    assert read_stdin(b"one\ntwo").data == ["one\n", "two"]


def test_empty_input_gives_no_events() -> None:
    assert read_stdin(b"").events == []


def test_every_line_of_a_pipe_arrives_in_order() -> None:
    read_fd, write_fd = os.pipe()
    lines = [f"line {n} {'x' * (n % 300)}\n".encode() for n in range(20_000)]

    def write() -> None:
        with os.fdopen(write_fd, "wb", buffering=0) as pipe:
            for start in range(0, len(lines), 37):  # many small writes, lines cut anywhere
                pipe.write(b"".join(lines[start : start + 37]))

    writer = threading.Thread(target=write)
    writer.start()
    module = build("StdIn")
    with os.fdopen(read_fd, "rb") as pipe:
        module.stream = pipe
        recorder = run_to_end(module)
    writer.join()
    assert recorder.data == [line.decode() for line in lines]


def test_reads_the_real_stdin_of_a_process(tmp_path: Path) -> None:
    log = tmp_path / "in.log"
    log.write_bytes(SEED_LINE * 5000 + b"partial")
    script = (
        "import asyncio\n"
        "from gp_celery.framing import Chunk, decode_chunk\n"
        "from gp_celery.testing import build\n"
        "pieces = []\n"
        "async def emit(more): pieces.extend(more)\n"
        "stdin = build('StdIn')\n"
        "asyncio.run(stdin.serve(emit))\n"
        "events = decode_chunk(Chunk('StdIn', 'StdIn', stdin.framing, pieces)).events\n"
        "print(len(events), repr(events[-1]['data']))\n"
    )
    with log.open("rb") as stdin:
        result = subprocess.run(
            [sys.executable, "-c", script], stdin=stdin, capture_output=True, timeout=60, check=True
        )
    assert result.stdout.decode().split() == ["5001", "'partial'"]


HOSTILE = {
    "invalid UTF-8": (b"ok\n\xff\xfe bad\nok\n", ["ok\n", "\ufffd\ufffd bad\n", "ok\n"], [1]),
    "NULs and binary": (b"a\x00b\n\x00\x01\x02\x80\n", ["a\x00b\n", "\x00\x01\x02\ufffd\n"], [1]),
    "empty lines": (b"\n\n\nx\n", ["\n", "\n", "\n", "x\n"], []),
    "half a line": (b"complete\nhalf a li", ["complete\n", "half a li"], []),
}


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
def test_hostile_input_is_data_and_tagged_not_lost(case: str) -> None:
    raw, expected, tagged = HOSTILE[case]
    events = read_stdin(raw).events
    assert [event["data"] for event in events] == expected
    assert [i for i, event in enumerate(events) if errors(event)] == tagged
    assert all(errors(events[i]) == [INVALID_UTF8] for i in tagged)


def test_a_huge_line_without_newline_is_one_truncated_event_in_bounded_memory() -> None:
    raw = b"before\n" + b"x" * (20 << 20) + b"\nafter\n"
    stream = io.BytesIO(raw)
    module = build("StdIn", {"max_line_bytes": 64 << 10})
    module.stream = stream
    tracemalloc.start()
    try:
        recorder = run_to_end(module)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert recorder.data == ["before\n", "x" * (64 << 10) + "\n", "after\n"]
    reason = f"line of {20 << 20} bytes exceeds max_line_bytes={64 << 10}; truncated"
    assert errors(recorder.events[1]) == [reason]
    assert peak < 12 << 20  # chunks of 1 MiB in flight, not the 20 MiB line


def test_a_5mb_line_with_the_default_limit_is_truncated_to_1mib() -> None:
    events = read_stdin(b"y" * (5 << 20)).events
    assert len(events) == 1
    assert len(events[0]["data"]) == 1 << 20
    assert errors(events[0]) == [
        f"line of {5 << 20} bytes exceeds max_line_bytes=1048576; truncated"
    ]


def test_stdin_ends_the_pipeline_at_end_of_input() -> None:
    assert build("StdIn").ends_pipeline


@pytest.mark.parametrize(
    "options", [{"stream_end_signal": True}, {"max_line_bytes": 0}, {"multi_line": True}]
)
def test_bad_options_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(BuildError):
        build("StdIn", options)
