"""Facet in a real fleet: a worker with two pool processes shares its facets through Redis,
so each interval and group is summarised once, by one process, with every value once."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

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


def summaries(path: Path) -> list[dict[str, Any]]:
    return [event for event in sink_events(path) if "facet_group" in event]


def lines_written(path: Path) -> int:
    return sum(1 for event in sink_events(path) if "facet_group" not in event)


def test_a_fleet_summarises_each_interval_and_group_once_with_every_value_once(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: StartWorker,
    start_listener: StartListener,
) -> None:
    out = tmp_path / "out.jsonl"
    config = write_config(
        tmp_path,
        f"""{FAST_BATCHES}- TcpServer:
   interface: 127.0.0.1
   port: 0
- RegexParser:
   field_extraction_patterns:
    - test: 'message (?P<n>\\d*(?P<digit>\\d))$'
- Facet:
   source_field: n
   group_by: $(digit)
   interval: 3
   max_values_per_group: 5000
- FileSink:
   file_name: {out}
   json_lines: true
""",
    )
    worker = start_worker(config, redis_server.url, concurrency=2, env=WORKER_ENV)
    listener = start_listener(config, redis_server.url)
    count = 2000
    # Every line twice, in separate connections and so in separate chunks: the two pool
    # processes see copies of the same values, which a per-process facet would report twice.
    for part in range(2):
        for _ in range(2):
            send_lines(listener.port, [line(n) for n in range(part * 1000, (part + 1) * 1000)])
        written = (part + 1) * 2000
        wait_for(lambda: lines_written(out) >= written, 60, f"{written} lines in {out}")  # noqa: B023

    def all_summarised() -> bool:
        return sum(len(s["facets"]) for s in summaries(out)) >= count

    wait_for(all_summarised, 30, f"facet summaries covering {count} values in {out}")
    time.sleep(3 + 3)  # another interval and its grace: nothing is reported again
    found = summaries(out)
    per_interval_group = Counter((s["interval_start"], s["facet_group"]) for s in found)
    assert set(per_interval_group.values()) == {1}, per_interval_group
    values_per_interval: dict[float, Counter[str]] = defaultdict(Counter)
    for summary in found:
        assert summary["facet_count"] == len(summary["facets"])
        assert all(value.endswith(summary["facet_group"]) for value in summary["facets"])
        values_per_interval[summary["interval_start"]].update(summary["facets"])
    for counts in values_per_interval.values():
        assert set(counts.values()) == {1}, "a value was reported twice in one interval"
    every_value = set().union(*values_per_interval.values())
    assert every_value == {str(n) for n in range(count)}
    assert lines_written(out) == 2 * count
    assert "Traceback" not in worker.output()
