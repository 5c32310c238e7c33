"""Throttle, Statistics and a RedisStore cache in a real fleet: a worker with two pool
processes throttles, counts and caches as one process would, through the fleet's Redis or a
RedisStore."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import redis

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
from tests.modules.services import WebServer


def statistics(path: Path) -> list[dict[str, Any]]:
    return [event for event in sink_events(path) if event.get("field_name")]


def test_a_fleet_throttles_counts_and_caches_as_one_process_would(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: StartWorker,
    start_listener: StartListener,
    web_server: WebServer,
) -> None:
    names = ("all", "fleet", "store", "stats", "lookup")
    out = {name: tmp_path / f"{name}.jsonl" for name in names}
    sinks = "".join(
        f"- FileSink:\n   id: {name}_out\n   file_name: {path}\n   json_lines: true\n"
        for name, path in out.items()
    )
    config = write_config(
        tmp_path,
        f"""{FAST_BATCHES}- RedisStore:
   id: store
   server: 127.0.0.1:{redis_server.port}
   db: 2
- TcpServer:
   interface: 127.0.0.1
   port: 0
   receivers: [fleet, by_store, Statistics, all_out, digits]
- Throttle:
   id: fleet
   key: all
   max_count: 50
   receivers: [fleet_out]
- Throttle:
   id: by_store
   key: all
   backend: store
   min_count: 11
   max_count: 30
   receivers: [store_out]
- Statistics:
   fields: [gambolputty.event_type, gambolputty.source_module]
   interval: 1
   emit_as_event: true
   receivers: [stats_out]
- RegexParser:
   id: digits
   field_extraction_patterns:
    - test: 'message \\d*?(?P<k>\\d)$'
   receivers: [lookup]
- HttpRequest:
   id: lookup
   url: {web_server.url}/status/fleet$(k)
   target_field: status
   cache_size: 0
   redis_store: store
   redis_key: status:$(k)
   receivers: [lookup_out]
{sinks}""",
    )
    worker = start_worker(config, redis_server.url, concurrency=2, env=WORKER_ENV)
    listener = start_listener(config, redis_server.url)
    paths = [f"/status/fleet{digit}" for digit in range(10)]
    before = {path: web_server.hits(path) for path in paths}
    # One chunk with each digit once: one process requests each URL and caches the answer.
    send_lines(listener.port, [line(n) for n in range(10)])
    wait_for(lambda: len(sink_events(out["lookup"])) >= 10, 60, f"10 lines in {out['lookup']}")
    count = 610
    for part in range(3):  # many chunks, spread over both pool processes
        send_lines(listener.port, [line(n) for n in range(10 + part * 200, 10 + (part + 1) * 200)])
    wait_for(lambda: len(sink_events(out["all"])) >= count, 60, f"{count} lines in {out['all']}")

    def all_counted() -> bool:
        return sum(e["field_count"] for e in statistics(out["stats"])) >= 2 * count

    wait_for(all_counted, 30, f"statistic events adding up to {count} per field")
    assert len(sink_events(out["fleet"])) == 50
    assert len(sink_events(out["store"])) == 20
    assert (
        int(redis.Redis(port=redis_server.port, db=2).get("gambolputty:throttle:all") or 0) == count
    )
    found = statistics(out["stats"])
    totals: Counter[tuple[str, str]] = Counter()
    for event in found:
        totals[event["field_name"], event["field_value"]] += event["field_count"]
    assert totals == {
        ("gambolputty.event_type", "Unknown"): count,
        ("gambolputty.source_module", "TcpServer"): count,
    }
    reported = Counter((e["interval_start"], e["field_name"], e["field_value"]) for e in found)
    assert set(reported.values()) == {1}, f"reported more than once: {reported}"
    # Without an in-process cache (cache_size: 0), only the RedisStore spared the requests.
    assert {path: web_server.hits(path) - before[path] for path in paths} == dict.fromkeys(paths, 1)
    looked_up = sink_events(out["lookup"])
    assert len(looked_up) == count
    assert all(event["status"] == f"fleet{event['k']}: up" for event in looked_up)
    assert "Traceback" not in worker.output()
