"""Metrics in a real fleet: a worker with two pool processes counts, summarises and samples
into Redis, and each interval is reported once, with the numbers one process would give."""

from __future__ import annotations

import math
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RedisServer, StartWorker, wait_for
from tests.distributed.conftest import (
    FAST_BATCHES,
    WORKER_ENV,
    StartListener,
    line,
    send_lines,
    sink_events,
    write_config,
)

COUNT = 1000


def metrics(path: Path, name: str) -> list[dict[str, Any]]:
    return [event for event in sink_events(path) if event.get("field_name") == name]


def test_a_fleet_reports_the_counts_and_percentiles_one_process_would(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: StartWorker,
    start_listener: StartListener,
) -> None:
    out, sampled_out = tmp_path / "out.jsonl", tmp_path / "sampled.jsonl"
    config = write_config(
        tmp_path,
        f"""{FAST_BATCHES}- TcpServer:
   interface: 127.0.0.1
   port: 0
- RegexParser:
   field_extraction_patterns:
    - test: 'message (?P<n>\\d*?(?P<d>\\d))$'
- Tarpit:
   delay: 0.003
   receivers: [exact, sampled]
- Metrics:
   id: exact
   interval: 1
   aggregations:
    - name: by_digit
      field: d
    - name: size_%{{d}}
      field: n
      buckets: [{{name: small, upper: 100}}, {{name: big, upper: 1000}}]
   percentiles:
    - name: n
      field: n
      percentiles: [0, 50, 100]
   receivers: [out]
- Metrics:
   id: sampled
   interval: 1
   max_samples: 5
   percentiles:
    - name: n
      field: n
      percentiles: [0, 100]
   receivers: [sampled_out]
- FileSink:
   id: out
   file_name: {out}
   json_lines: true
- FileSink:
   id: sampled_out
   file_name: {sampled_out}
   json_lines: true
""",
    )
    worker = start_worker(config, redis_server.url, concurrency=2, env=WORKER_ENV)
    listener = start_listener(config, redis_server.url)
    for part in range(10):
        send_lines(listener.port, [line(n) for n in range(part * 100, (part + 1) * 100)])
        time.sleep(0.1)  # past batch_ms: a chunk each, holding a pool process 0.3 s

    def all_reported() -> bool:
        counted = sum(e["total_count"] for e in metrics(out, "by_digit"))
        summarised = sum(e["count"] for e in metrics(out, "n"))
        sampled = sum(e["count"] for e in metrics(sampled_out, "n"))
        return counted >= COUNT and summarised >= COUNT and sampled >= COUNT

    wait_for(all_reported, 40, f"metrics adding up to {COUNT} in {out} and {sampled_out}")
    digits: Counter[str] = Counter()
    for event in metrics(out, "by_digit"):
        digits.update(event["field_counts"])
    assert digits == dict.fromkeys("0123456789", COUNT // 10)
    for digit in "0123456789":
        sizes: Counter[str] = Counter()
        for event in metrics(out, f"size_{digit}"):
            sizes.update(event["field_counts"])
        assert sizes == {"small": 10, "big": 90}
    numbers = metrics(out, "n")
    reported = Counter(e["interval_start"] for e in numbers)
    assert set(reported.values()) == {1}, f"reported more than once: {reported}"
    # Each interval's summary merges both processes': together they are all the numbers.
    assert sum(e["count"] for e in numbers) == COUNT
    assert sum(e["mean"] * e["count"] for e in numbers) == pytest.approx(sum(range(COUNT)))
    squares = sum((e["std"] ** 2 + e["mean"] ** 2) * e["count"] for e in numbers)
    assert squares == pytest.approx(sum(n * n for n in range(COUNT)))
    assert (min(e["min"] for e in numbers), max(e["max"] for e in numbers)) == (0, COUNT - 1)
    assert max(e["processes"] for e in numbers) == 2, "one pool process did all the work"
    for event in numbers:  # every number of the interval reached the sample
        assert event["sampled"] is False
        assert [event["percentiles"][0], event["percentiles"][2]] == [event["min"], event["max"]]
    for event in metrics(sampled_out, "n"):  # at most 5 numbers kept, fleet-wide
        low, high = event["percentiles"]
        assert event["sampled"] is (event["count"] > 5)
        assert event["min"] <= low <= high <= event["max"]
        assert not math.isnan(event["std"])
    assert "Traceback" not in worker.output()
