"""Fleet counters: real listeners and workers write their totals to Redis, `gp-celery stats`
adds them up (table, JSON, reconcile), a killed worker's totals still count and a restarted
one is not counted twice."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT, RedisServer, StartWorker, free_port, wait_for
from tests.distributed.conftest import (
    FAST_BATCHES,
    GP,
    WORKER_ENV,
    StartListener,
    line,
    send_lines,
    settle,
    write_config,
)

STATS_ENV = {**WORKER_ENV, "GP_STATS_SECS": "0.5"}
COUNT = 1000


def fan_out(tmp_path: Path) -> tuple[Path, Path, Path]:
    """TcpServer -> RegexParser -> DropEvent (drops every line whose id ends in 0) -> two
    FileSinks: 'all' gets every event, 'ones' only ids ending in 1 (a copy each)."""
    every, ones = tmp_path / "all.jsonl", tmp_path / "ones.jsonl"
    config = write_config(
        tmp_path,
        f"""{FAST_BATCHES}- TcpServer:
   interface: 127.0.0.1
   port: 0
- RegexParser:
   field_extraction_patterns:
    - test_line: '^id-\\d*(?P<tail>\\d) '
- DropEvent:
   filter: $(tail) == '0'
   receivers:
    - all
    - ones:
       filter: $(tail) == '1'
- FileSink:
   id: all
   file_name: {every}
   json_lines: true
- FileSink:
   id: ones
   file_name: {ones}
   json_lines: true
""",
        name="fleet-stats.yml",
    )
    return config, every, ones


Families = dict[str, list[Any]]


def scrape(port: int, auth: tuple[str, str] | None = None) -> Families:
    """GET /metrics and parse it with prometheus-client's own parser: samples by name."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics")
    if auth is not None:
        token = base64.b64encode(":".join(auth).encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    found: Families = {}
    for family in text_string_to_metric_families(text):
        for one in family.samples:
            found.setdefault(one.name, []).append(one)
    return found


def sample(families: Families, name: str, **labels: str) -> float:
    matching = [
        one.value
        for one in families.get(name, [])
        if all(one.labels.get(key) == value for key, value in labels.items())
    ]
    assert len(matching) == 1, (name, labels, families.get(name))
    return float(matching[0])


def stats(config: Path, broker: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GP, "stats", "-c", str(config), "--broker", broker, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "GP_BROKER_URL": broker},
        check=False,
    )


def fleet_json(config: Path, broker: str) -> dict[str, Any]:
    done = stats(config, broker, "--json")
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def test_stats_adds_up_every_process_and_a_finished_run_reconciles(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: StartWorker,
    start_listener: StartListener,
) -> None:
    config, every, ones = fan_out(tmp_path)
    start_worker(config, redis_server.url, concurrency=2, env=STATS_ENV, name="a")
    metrics_port = free_port()
    listener = start_listener(
        config, redis_server.url, env=STATS_ENV, extra_args=["--metrics-port", str(metrics_port)]
    )
    send_lines(listener.port, (line(n) for n in range(COUNT)))
    wait_for(
        lambda: sample(scrape(metrics_port), "gp_celery_listener_chunks_total") >= 1,
        20,
        "the listener's own /metrics to count a chunk",
    )
    assert listener.terminate() == 0
    assert len(settle(every)) == COUNT * 9 // 10
    assert len(settle(ones)) == COUNT // 10

    def totals() -> dict[str, Any]:
        return fleet_json(config, redis_server.url)

    wait_for(
        lambda: totals()["nodes"].get("all", {}).get("events_out") == COUNT * 9 // 10,
        20,
        "the workers' totals to reach Redis",
    )
    found = totals()
    nodes = found["nodes"]
    assert nodes["TcpServer"]["events_in"] == COUNT
    assert nodes["DropEvent"]["dropped"] == COUNT // 10
    assert nodes["DropEvent"]["copies"] == COUNT // 10
    assert nodes["ones"]["events_out"] == COUNT // 10
    roles = sorted(process["role"] for process in found["processes"])
    assert roles == ["listener", "worker", "worker"]  # two pool processes, one listener
    assert found["listeners"]["chunks"] == listener.published_chunks()
    assert found["stages"]["gp-celery"]["tasks"] >= listener.published_chunks()
    assert found["in_flight"] == 0

    reconciled = stats(config, redis_server.url, "--reconcile")
    assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
    assert (
        f"OK TcpServer: in {COUNT} + copies {COUNT // 10} = written/done "
        f"{COUNT * 9 // 10 + COUNT // 10} + dropped {COUNT // 10} + dead letters 0"
    ) in reconciled.stdout

    table = stats(config, redis_server.url, "--once")
    assert table.returncode == 0, table.stderr
    for node in ("TcpServer", "RegexParser", "DropEvent", "all", "ones", "gp-celery"):
        assert node in table.stdout


def test_the_exporter_serves_the_fleet_totals_to_prometheus_behind_basic_auth(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: StartWorker,
    start_listener: StartListener,
) -> None:
    config, every, _ones = fan_out(tmp_path)
    start_worker(config, redis_server.url, env=STATS_ENV, name="a")
    listener = start_listener(config, redis_server.url, env=STATS_ENV)
    send_lines(listener.port, (line(n) for n in range(COUNT)))
    assert listener.terminate() == 0
    assert len(settle(every)) == COUNT * 9 // 10
    port = free_port()
    exporter = subprocess.Popen(
        [GP, "exporter", "-c", str(config), "--broker", redis_server.url, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "GP_METRICS_AUTH": "prom:s3cret"},
    )
    try:
        assert exporter.stdout is not None
        assert "serving http://127.0.0.1" in exporter.stdout.readline()
        with pytest.raises(urllib.error.HTTPError) as refused:
            scrape(port)
        assert refused.value.code == 401

        def written() -> float:
            families = scrape(port, auth=("prom", "s3cret"))
            return sample(families, "gp_celery_node_events_out_total", node="all")

        wait_for(lambda: written() == COUNT * 9 // 10, 20, "the totals to reach the exporter")
        families = scrape(port, auth=("prom", "s3cret"))
        assert sample(families, "gp_celery_node_events_in_total", node="TcpServer") == COUNT
        assert sample(families, "gp_celery_node_dropped_total", node="DropEvent") == COUNT // 10
        assert sample(families, "gp_celery_queue_depth", queue="gp-celery") == 0
        assert sample(families, "gp_celery_dead_letters") == 0
        tasks = sample(families, "gp_celery_stage_task_seconds_count", stage="gp-celery")
        assert tasks >= listener.published_chunks()
        assert sample(families, "gp_celery_processes", role="worker", alive="true") == 1
    finally:
        exporter.send_signal(signal.SIGTERM)
        assert exporter.wait(timeout=20) == 0


def test_a_killed_workers_totals_still_count_and_a_restart_does_not_double_count(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: StartWorker,
    start_listener: StartListener,
) -> None:
    config, every, _ones = fan_out(tmp_path)
    first = start_worker(config, redis_server.url, env=STATS_ENV, name="first")
    listener = start_listener(config, redis_server.url, env=STATS_ENV)
    send_lines(listener.port, (line(n) for n in range(COUNT)))
    wait_for(lambda: len(settle(every, quiet=0.5)) == COUNT * 9 // 10, 30, "the first run")
    wait_for(
        lambda: fleet_json(config, redis_server.url)["nodes"]["TcpServer"]["events_in"] == COUNT,
        20,
        "the first worker's totals",
    )
    os.killpg(first.process.pid, signal.SIGKILL)
    first.process.wait(timeout=10)

    start_worker(config, redis_server.url, env=STATS_ENV, name="second")
    send_lines(listener.port, (line(n) for n in range(COUNT, 2 * COUNT)))
    assert listener.terminate() == 0
    assert len(settle(every)) == 2 * COUNT * 9 // 10
    wait_for(
        lambda: (
            fleet_json(config, redis_server.url)["nodes"]["TcpServer"]["events_in"] == 2 * COUNT
        ),
        20,
        "both workers' totals added up",
    )
    found = fleet_json(config, redis_server.url)
    workers = [process for process in found["processes"] if process["role"] == "worker"]
    assert sorted(process["alive"] for process in workers) == [False, True]
    assert stats(config, redis_server.url, "--reconcile").returncode == 0


def test_reconcile_fails_while_tasks_are_still_queued(
    tmp_path: Path, redis_server: RedisServer, start_listener: StartListener
) -> None:
    config, _every, _ones = fan_out(tmp_path)
    listener = start_listener(config, redis_server.url, env=STATS_ENV)
    send_lines(listener.port, (line(n) for n in range(100)))
    assert listener.terminate() == 0  # no worker: every chunk waits in its queue
    done = stats(config, redis_server.url, "--reconcile")
    assert done.returncode == 4
    assert "NOT FINISHED" in done.stdout
    assert f"{listener.published_chunks()} tasks are still queued" in done.stdout


def test_stats_says_so_when_redis_cannot_be_reached(tmp_path: Path) -> None:
    config, _every, _ones = fan_out(tmp_path)
    done = stats(config, "redis://127.0.0.1:1/0", "--once")
    assert done.returncode == 2
    assert "cannot reach the broker at redis://127.0.0.1:1/0" in done.stderr
