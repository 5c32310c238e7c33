"""SimpleStats in a real fleet: a worker with two pool processes counts into Redis, and each
interval is reported once, by one of them, with the fleet's totals."""

from __future__ import annotations

import time
from collections import Counter
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


def statistics(path: Path, name: str) -> list[dict[str, Any]]:
    return [event for event in sink_events(path) if event.get("field_name") == name]


def lines_written(path: Path) -> int:
    """The test lines in the sink's file (the statistic events are mixed in)."""
    return sum(1 for event in sink_events(path) if "field_name" not in event)


def test_a_fleet_reports_each_interval_once_with_every_process_counts(
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
- SimpleStats:
   interval: 2
   emit_as_event: true
- FileSink:
   file_name: {out}
   json_lines: true
""",
    )
    worker = start_worker(config, redis_server.url, concurrency=2, env=WORKER_ENV)
    listener = start_listener(config, redis_server.url)
    count = 3000
    for part in range(3):  # in many chunks, over several intervals
        send_lines(listener.port, [line(n) for n in range(part * 1000, (part + 1) * 1000)])
        written = (part + 1) * 1000
        wait_for(lambda: lines_written(out) >= written, 60, f"{written} lines in {out}")  # noqa: B023
        time.sleep(2.2)

    def all_counted() -> bool:
        return sum(e["field_count"] for e in statistics(out, "events_received")) >= count

    wait_for(all_counted, 30, f"statistic events adding up to {count} in {out}")
    time.sleep(2 * 2 + 1)  # two more intervals and their grace: nothing is reported again
    received = statistics(out, "events_received")
    assert sum(e["field_count"] for e in received) == count, received
    reported = Counter(e["interval_start"] for e in received)
    assert set(reported.values()) == {1}, f"intervals reported more than once: {reported}"
    assert sum(1 for e in received if e["field_count"]) >= 3, received
    assert all(e["interval"] == 2 for e in received)
    assert max(e["processes"] for e in received) == 2, received
    by_type = statistics(out, "event_type_Unknown")
    assert sum(e["field_count"] for e in by_type) == count
    assert lines_written(out) == count
    assert "Traceback" not in worker.output()
