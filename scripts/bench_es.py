"""ElasticSearchSink against the Elasticsearch stand-in: documents per second by bulk size.

The stand-in (tests/stand_ins/elasticsearch/) is a Python HTTP server, not Elasticsearch,
and runs on the same cores: the numbers bound what the sink's side costs (events to NDJSON,
the official client, reading the answers), not what a cluster ingests. Each run writes the
same events to a fresh stand-in index through the sink's ``write()``, as a worker does with
its batches, and checks that every document is there under its event id.
"""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import urllib3
from bench_common import ROOT, median, say

BULK_SIZES = (100, 500, 2000)
MAX_EVENTS = 200_000
"""Enough for steady numbers; the stand-in takes about as long as the sink per document."""


def events(count: int) -> list[dict[str, Any]]:
    """Access-log-like events with their metadata, as a RegexParser leaves them."""
    return [
        {
            "data": f"10.0.{n % 256}.{n % 7} - - [01/Dec/2026:10:00:00 +0000] "
            f'"GET /p/{n} HTTP/1.1" 200 {n % 5000}',
            "remote_ip": f"10.0.{n % 256}.{n % 7}",
            "url": f"GET /p/{n} HTTP/1.1",
            "http_status": "200",
            "bytes_send": str(n % 5000),
            "gambolputty": {
                "event_id": f"bench-{n:x}",
                "event_type": "httpd_access_log",
                "received_from": "127.0.0.1",
                "source_module": "TcpServer",
            },
        }
        for n in range(count)
    ]


def start_stand_in() -> tuple[subprocess.Popen[bytes], str]:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.stand_ins.elasticsearch", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    if b"listening on" not in process.stdout.readline():
        raise SystemExit("the Elasticsearch stand-in did not start")
    return process, f"http://127.0.0.1:{port}"


def one_run(url: str, bulk: int, batch: list[dict[str, Any]]) -> tuple[float, float]:
    """(wall seconds, this process's CPU seconds) to write ``batch`` in runner batches."""
    from gp_celery.testing import build

    urllib3.request("POST", f"{url}/_stand_in/reset")
    sink = build("ElasticSearchSink", {"nodes": [url], "index_name": "bench", "batch_size": bulk})
    runner_batch = max(bulk, 500)
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(batch), runner_batch):
        failures = sink.write(batch[start : start + runner_batch])
        if failures:
            raise SystemExit(f"the sink failed {len(failures)} documents: {failures[0]}")
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    sink.close()
    stats = urllib3.request("GET", f"{url}/_stand_in/stats").json()
    if stats["documents"] != len(batch):
        raise SystemExit(f"{stats['documents']} documents stored for {len(batch)} events")
    return wall, cpu


def run_es(lines: int, runs: int) -> str:
    count = min(lines, MAX_EVENTS)
    batch = events(count)
    process, url = start_stand_in()
    rows = []
    try:
        for bulk in BULK_SIZES:
            results = [one_run(url, bulk, batch) for _ in range(runs)]
            wall = median(wall for wall, _ in results)
            cpu = median(cpu for _, cpu in results)
            say(f"es: bulk {bulk}: {count / wall:,.0f} documents/s")
            rows.append(f"| {bulk} | {count / wall:,.0f} | {cpu / count * 1e6:.1f} | {wall:.2f} |")
    finally:
        process.terminate()
        process.wait(timeout=10)
    return "\n".join(
        [
            "## ElasticSearchSink against the Elasticsearch stand-in",
            "",
            f"{count:,} access-log events, written as a worker writes its batches; median of "
            f"{runs} runs. The stand-in is a Python HTTP server on the same machine, not "
            "Elasticsearch: these numbers bound the sink's own cost per document, not a "
            "cluster's ingest rate.",
            "",
            "| bulk size (`batch_size`) | documents/s | sink CPU µs/document | seconds |",
            "|---|---|---|---|",
            *rows,
        ]
    )
