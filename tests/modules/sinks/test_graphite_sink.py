"""GraphiteSink: Carbon's plaintext protocol, checked line by line, against a real
carbon-cache (its whisper files read back) and a TCP line collector for faults."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from gp_celery.modules.sinks.graphite_sink import metric_line
from gp_celery.testing import BuildError, build, run
from tests.modules.sinks.servers import Carbon, LineCollector


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("a.b 1", b"a.b 1 1000\n"),
        ("a.b 1.5", b"a.b 1.5 1000\n"),
        ("a.b  -3e2 ", b"a.b -3e2 1000\n"),
        ("a.b 7 900", b"a.b 7 900\n"),
        ("a.b 7 900.9", b"a.b 7 900\n"),
    ],
)
def test_metric_lines_get_the_time_of_the_write(text: str, line: bytes) -> None:
    assert metric_line(text, 1000) == line


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a.b", "expected 'path value'"),
        ("a b c d", "expected 'path value'"),
        ("a.b many", "value is not a number"),
        ("a.b nan", "not a finite number"),
        ("a.b inf", "not a finite number"),
        ("a.b 1 soon", "timestamp is not a number"),
        ("a\x01b 1", "control characters"),
    ],
)
def test_text_that_is_not_a_metric_is_refused(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        metric_line(text, 1000)


def sink(port: int, formats: list[str], **options: Any) -> Any:
    return build(
        "GraphiteSink", {"server": "127.0.0.1", "port": port, "formats": formats, **options}
    )


def test_every_format_is_one_line_and_a_missing_field_skips_only_its_line(
    line_collector: LineCollector,
) -> None:
    module = sink(
        line_collector.port, ["gp.http_200_$(interval)s $(counts.200)", "gp.http_400 $(counts.400)"]
    )
    before = int(time.time())
    assert run(module, [{"interval": 10, "counts": {"200": 5}}]) == []
    (line,) = line_collector.wait_for_lines(1)
    path, value, stamp = line.split()
    assert (path, value) == ("gp.http_200_10", "5")
    assert before <= int(stamp) <= time.time()
    assert module.stats.counts["skipped_lines"] == 1


def test_an_event_with_a_bad_line_fails_alone_and_sends_nothing(
    line_collector: LineCollector,
) -> None:
    module = sink(line_collector.port, ["gp.ok 1", "gp.rate $(rate)"])
    failed = run(module, [{"rate": "fast"}, {"rate": 2}, {"rate": 10**5000}])
    assert len(failed) == 2
    assert "not a metric" in failed[0]["gambolputty"]["errors"][0]["reason"]
    assert [line.rsplit(" ", 1)[0] for line in line_collector.wait_for_lines(2)] == [
        "gp.ok 1",
        "gp.rate 2",
    ]


def test_a_dropped_connection_is_noticed_before_the_next_batch(
    line_collector: LineCollector,
) -> None:
    module = sink(line_collector.port, ["gp.n $(n)"])
    assert module.write([{"n": 1}]) == []
    line_collector.wait_for_lines(1)
    line_collector.drop_clients()  # Carbon restarted between batches
    time.sleep(0.1)
    assert module.write([{"n": 2}]) == []
    assert [line.split()[1] for line in line_collector.wait_for_lines(2)] == ["1", "2"]


def test_carbon_down_is_retriable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    failures = sink(port, ["gp.n $(n)"], timeout_secs=2).write([{"n": 1}, {"n": 2}, {}])
    assert [(f.index, f.retriable) for f in failures] == [(0, True), (1, True)]


def test_carbon_stores_the_points_in_whisper(carbon: Carbon) -> None:
    module = sink(
        carbon.port, ["gp.stats.rate_$(interval)s $(rate)", "gp.stats.total $(total) $(at)"]
    )
    now = int(time.time())
    assert module.write([{"interval": 10, "rate": 12.5, "total": 3, "at": now - 60}]) == []
    rate = carbon.wait_for_points("gp.stats.rate_10", 1)
    assert list(rate.values()) == [12.5]
    assert now - 2 <= next(iter(rate)) <= now + 2
    assert carbon.wait_for_points("gp.stats.total", 1) == {now - 60: 3.0}


def test_a_carbon_restart_between_batches_loses_nothing(carbon: Carbon) -> None:
    module = sink(carbon.port, ["gp.restart $(n) $(at)"])
    now = int(time.time())
    assert module.write([{"n": 1, "at": now - 30}]) == []
    carbon.wait_for_points("gp.restart", 1)
    carbon.restart()
    assert module.write([{"n": 2, "at": now - 20}]) == []
    assert carbon.wait_for_points("gp.restart", 2) == {now - 30: 1.0, now - 20: 2.0}


def test_formats_are_required_and_checked_at_load() -> None:
    with pytest.raises(BuildError, match="formats"):
        build("GraphiteSink", {})
    with pytest.raises(BuildError, match="formats"):
        build("GraphiteSink", {"formats": ["unclosed $(x"]})
    assert build("output.Graphite", {"formats": ["a 1"]}).name == "GraphiteSink"


def test_a_receiver_that_stops_reading_times_out_retriably() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        module = sink(server.getsockname()[1], ["gp.$(n) 1"], timeout_secs=1)
        started = time.monotonic()
        failures = module.write([{"n": "x" * 1000 + str(n)} for n in range(20_000)])
        assert time.monotonic() - started < 10
        assert failures
        assert all(f.retriable for f in failures)
        assert "TimeoutError" in failures[0].error
    finally:
        server.close()
