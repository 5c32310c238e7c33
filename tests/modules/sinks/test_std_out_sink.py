"""StdOutSink: Python repr (pretty or one line), templates, JSON lines; one write per batch."""

from __future__ import annotations

import contextlib
import io
import os
import pprint
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from gp_celery.event import Batch
from gp_celery.modules.base import OutputClosedError
from gp_celery.pipeline.sink_writer import SinkWriter
from gp_celery.testing import BuildError, build, pipeline, run

SEED_LINE = '192.168.2.20 - - [28/Jul/2006:10:27:10 -0300] "GET /cgi-bin/try/ HTTP/1.0" 200 3395\n'
SEED_EVENT = {
    "bytes_send": "3395",
    "data": SEED_LINE,
    "datetime": "28/Jul/2006:10:27:10 -0300",
    "gambolputty": {
        "event_id": "c9f9615a935869ccbaf401108070bfb3",
        "event_type": "httpd_access_log",
        "received_from": False,
        "source_module": "StdIn",
    },
    "http_status": "200",
    "identd": "-",
    "remote_ip": "192.168.2.20",
    "url": "GET /cgi-bin/try/ HTTP/1.0",
    "user": "-",
}


class CountingStdout(io.StringIO):
    """A stand-in for the terminal that counts write calls."""

    writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def test_pretty_print_is_sorted_wrapped_python_repr(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(build("StdOutSink"), [SEED_EVENT]) == []
    out = capsys.readouterr().out
    assert out == pprint.pformat(SEED_EVENT, width=80, sort_dicts=True) + "\n"
    assert out.startswith(
        "{'bytes_send': '3395',\n 'data': '192.168.2.20 - - [28/Jul/2006:10:27:10 "
    )
    assert " 'gambolputty': {'event_id': 'c9f9615a935869ccbaf401108070bfb3',\n" in out
    assert "                 'event_type': 'httpd_access_log',\n" in out
    assert " 'http_status': '200',\n" in out
    assert out.endswith(" 'user': '-'}\n")


def test_pretty_print_false_is_one_line_repr(capsys: pytest.CaptureFixture[str]) -> None:
    assert build("StdOutSink", {"pretty_print": False}).write([{"b": 1, "a": "x"}]) == []
    assert capsys.readouterr().out == "{'b': 1, 'a': 'x'}\n"


def test_format_prints_the_rendered_template(capsys: pytest.CaptureFixture[str]) -> None:
    run(build("StdOutSink", {"format": "$(http_status) $(url) $(missing)."}), [SEED_EVENT])
    assert capsys.readouterr().out == "200 GET /cgi-bin/try/ HTTP/1.0 .\n"


def test_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    run(build("StdOutSink", {"json_lines": True}), [SEED_EVENT, {"s": {1}}])
    first, second = capsys.readouterr().out.splitlines()
    assert orjson.loads(first) == SEED_EVENT
    assert orjson.loads(second)["s"] == [1]


def test_parser_option_is_accepted_and_unused(capsys: pytest.CaptureFixture[str]) -> None:
    run(build("StdOutSink", {"parser": "JsonParser", "pretty_print": False}), [{"a": 1}])
    assert capsys.readouterr().out.startswith("{'a': 1,")


def test_json_lines_and_format_together_are_a_load_error() -> None:
    with pytest.raises(BuildError, match="not both"):
        build("StdOutSink", {"json_lines": True, "format": "$(a)"})


def test_a_batch_is_one_write(monkeypatch: pytest.MonkeyPatch) -> None:
    stdout = CountingStdout()
    monkeypatch.setattr(sys, "stdout", stdout)
    run(build("StdOutSink"), [{"n": i} for i in range(500)])
    assert stdout.writes == 1
    assert stdout.getvalue().count("'n'") == 500


def closed_stdout_writes(monkeypatch: pytest.MonkeyPatch, stop: bool) -> tuple[int, int]:
    """A StdOutSink writing to a pipe whose reader went away, through the runner's writer."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    sink = build("StdOutSink")
    letters: list[Batch] = []
    writer = SinkWriter(sink, 2, 0.01, lambda _node, events, _tries: letters.append(events))
    writer.stop_on_closed_output = stop
    with open(write_end, "w", encoding="utf-8") as closed_pipe:
        monkeypatch.setattr(sys, "stdout", closed_pipe)
        try:
            return writer.write([{"a": 1}, {"a": 2}])
        finally:
            monkeypatch.undo()
            with contextlib.suppress(BrokenPipeError):
                closed_pipe.close()  # the text buffer still holds the batch


def test_a_closed_stdout_stops_one_process_without_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(OutputClosedError, match="stdout is closed"):
        closed_stdout_writes(monkeypatch, stop=True)


def test_a_closed_stdout_in_a_worker_dead_letters_the_batch_without_retry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert closed_stdout_writes(monkeypatch, stop=False) == (0, 2)


def test_unprintable_event_fails_alone(capsys: pytest.CaptureFixture[str]) -> None:
    failures = build("StdOutSink").write([{"a": 1}, {"huge": 10**5000}, {"b": 2}])
    assert [(f.index, f.retriable) for f in failures] == [(1, False)]
    out = capsys.readouterr().out
    assert "'a': 1" in out
    assert "'b': 2" in out


def test_lone_surrogate_on_a_strict_terminal_is_escaped(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = io.BytesIO()
    strict = io.TextIOWrapper(raw, encoding="utf-8", errors="strict")
    monkeypatch.setattr(sys, "stdout", strict)
    assert build("StdOutSink", {"format": "$(data)"}).write([{"data": "a\udcffb"}]) == []
    assert raw.getvalue() == b"a\\udcffb\n"


def test_unicode_and_huge_values(capsys: pytest.CaptureFixture[str]) -> None:
    events: list[dict[str, Any]] = [{"data": "ünï©ødé 🎉"}, {"data": "x" * 1_000_000}]
    assert run(build("StdOutSink", {"format": "$(data)"}), events) == []
    out = capsys.readouterr().out
    assert out.startswith("ünï©ødé 🎉\nxxx")
    assert len(out) == len("ünï©ødé 🎉\n") + 1_000_001


def test_seed_stdin_example_prints_the_documented_fields(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    regex = (
        r"(?P<remote_ip>\d+\.\d+\.\d+\.\d+)\s+(?P<identd>\w+|-)\s+(?P<user>\w+|-)\s+"
        r"\[(?P<datetime>\d+\/\w+\/\d+:\d+:\d+:\d+\s.\d+)\]\s+\"(?P<url>.*)\"\s+"
        r"(?P<http_status>\d+)\s+(?P<bytes_send>\d+)"
    )
    config = tmp_path / "example-stdin.yml"
    config.write_text(
        "- RegexParser:\n"
        "   field_extraction_patterns:\n"
        f"    - httpd_access_log: '{regex}'\n"
        "- StdOutSink:\n"
        "    pretty_print: True\n"
    )
    run(pipeline(config), [{"data": SEED_LINE}])
    out = capsys.readouterr().out
    for key in ("bytes_send", "datetime", "http_status", "identd", "remote_ip", "url", "user"):
        assert f"'{key}': {SEED_EVENT[key]!r}," in out or f"'{key}': {SEED_EVENT[key]!r}}}" in out
    assert "'event_type': 'httpd_access_log'" in out
    assert " 'data': '192.168.2.20 - - [28/Jul/2006:10:27:10 -0300] " in out


def test_fields_print_only_those_fields(capsys: pytest.CaptureFixture[str]) -> None:
    sink = build("StdOutSink", {"fields": ["remote_ip", "gambolputty.event_type", "absent"]})
    assert run(sink, [SEED_EVENT]) == []
    assert capsys.readouterr().out == (
        "{'gambolputty.event_type': 'httpd_access_log', 'remote_ip': '192.168.2.20'}\n"
    )


@pytest.mark.parametrize(
    ("options", "printed"),
    [
        ({"pretty_print": False, "fields": "http_status"}, "{'http_status': '200'}\n"),
        ({"json_lines": True, "fields": ["http_status", "bytes_send"]}, None),
    ],
)
def test_fields_work_with_every_form_but_format(
    options: dict[str, Any], printed: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    run(build("StdOutSink", options), [SEED_EVENT])
    out = capsys.readouterr().out
    if printed is None:
        assert orjson.loads(out) == {"http_status": "200", "bytes_send": "3395"}
    else:
        assert out == printed


def test_fields_leave_the_events_whole(capsys: pytest.CaptureFixture[str]) -> None:
    events = [{"a": 1, "b": 2}]
    assert build("StdOutSink", {"fields": ["a"]}).write(events) == []
    assert events == [{"a": 1, "b": 2}]
    assert capsys.readouterr().out == "{'a': 1}\n"


def test_fields_and_format_together_are_an_error_at_fields() -> None:
    with pytest.raises(BuildError, match="fields: set 'format' or 'fields', not both"):
        build("StdOutSink", {"format": "$(a)", "fields": ["a"]})


def test_lumbermill_format_example(capsys: pytest.CaptureFixture[str]) -> None:
    """LumberMill's TestStdOut.testFormat, with the metadata key both generations share."""
    data = "One thing is for sure; a sheep is not a creature of the air."
    run(build("StdOutSink", {"format": "$(data) - $(gambolputty.event_type)"}), [{"data": data}])
    assert capsys.readouterr().out == f"{data} - Unknown\n"
