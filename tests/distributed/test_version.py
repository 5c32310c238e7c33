"""A batch made for another config version is refused, sent back, then parked: never run
by the wrong pipeline, never dropped."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import orjson

from tests.conftest import ROOT, VENV_BIN, RedisServer, StartWorker, wait_for
from tests.distributed.conftest import (
    FAST_BATCHES,
    VISIBILITY_SECS,
    WORKER_ENV,
    StartListener,
    ids_of,
    line,
    send_lines,
    sink_events,
    write_config,
)

PARKED = "gp-celery:parked"
RETRIES = 4
"""Tries before parking. With the tests' visibility timeout of 4 s the fourth backoff
(8 s) would exceed it, and Redis used to hand out a second copy of each waiting retry."""


def test_batch_for_another_config_version_is_refused_then_parked_whole(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: StartWorker,
    start_listener: StartListener,
) -> None:
    out = tmp_path / "out.jsonl"
    listener_config = write_config(
        tmp_path,
        f"{FAST_BATCHES}- TcpServer:\n   interface: 127.0.0.1\n   port: 0\n"
        f"- FileSink:\n   file_name: {out}\n   json_lines: true\n",
        "old.yml",
    )
    # The workers were upgraded: one more step. Same sink, same file.
    worker_config = write_config(
        tmp_path,
        f"{FAST_BATCHES}- TcpServer:\n   interface: 127.0.0.1\n   port: 0\n"
        f"- AddDateTime: {{}}\n"
        f"- FileSink:\n   file_name: {out}\n   json_lines: true\n",
        "new.yml",
    )
    worker = start_worker(
        worker_config, redis_server.url, env={**WORKER_ENV, "GP_VERSION_RETRIES": str(RETRIES)}
    )
    listener = start_listener(listener_config, redis_server.url)
    count = 120
    send_lines(listener.port, (line(n) for n in range(count)))
    broker = redis_server.client()
    started = time.monotonic()

    def parked_ids() -> list[int]:
        records = [orjson.loads(raw) for raw in broker.lrange(PARKED, 0, -1)]
        return sorted(ids_of(e for record in records for e in record["events"]).elements())

    wait_for(lambda: len(parked_ids()) >= count, 40, f"{count} events parked in {PARKED}")
    parked_after = time.monotonic() - started
    time.sleep(1)  # nothing more comes: no second copy of a batch
    assert parked_ids() == list(range(count))

    records = [orjson.loads(raw) for raw in broker.lrange(PARKED, 0, -1)]
    log = worker.output()
    assert not out.exists(), "a refused chunk was run"
    digest = records[0]["digest"]
    what = "node 'AddDateTime' is only in this worker's config"
    assert {record["error"] for record in records} == {
        f"no worker runs stage 'gp-celery' of config {digest[:12]} ({what})"
    }
    assert all(record["kind"] == "parked" for record in records)
    assert all(record["queue"] == "gp-celery" for record in records)
    assert all(record["node"] == "TcpServer" for record in records)
    assert f"(stages gp-celery {digest[:12]})" in listener.output()
    assert f"Refusing data for stage 'gp-celery' of config {digest[:12]}" in log
    assert f"({what}). Sent back to the queue (try {RETRIES} of {RETRIES})" in log
    assert "events set aside (parked: no worker runs stage 'gp-celery'" in log
    assert f"kept in Redis list '{PARKED}'" in log
    # Backoff between the tries: 1, 2, then capped at half the visibility timeout.
    backoff = sum(min(2**tries, max(1, VISIBILITY_SECS // 2)) for tries in range(RETRIES))
    assert parked_after >= backoff - 1


def test_a_worker_without_a_listener_only_variable_runs_the_stage(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: StartWorker,
    start_listener: StartListener,
) -> None:
    """The listener's host sets GP_TCP_PORT; the worker's host does not, and needs not: an
    input's transport options never reach a worker. Nor does the listener need the sink's
    GP_OUT, which only the worker sets."""
    out = tmp_path / "out.jsonl"
    config = write_config(
        tmp_path,
        f"{FAST_BATCHES}- TcpServer:\n   interface: 127.0.0.1\n   port: ${{GP_TCP_PORT}}\n"
        f"   add_fields: {{site: '${{GP_SITE:-lab}}'}}\n"
        "- FileSink:\n   file_name: ${GP_OUT}\n   json_lines: true\n",
    )
    assert "GP_TCP_PORT" not in WORKER_ENV
    start_worker(config, redis_server.url, env={**WORKER_ENV, "GP_OUT": str(out)})
    listener = start_listener(config, redis_server.url, env={"GP_TCP_PORT": "0"})
    count = 50
    send_lines(listener.port, (line(n) for n in range(count)))
    wait_for(lambda: sum(ids_of(sink_events(out)).values()) >= count, 30, "every event")
    events = sink_events(out)
    assert sorted(ids_of(events)) == list(range(count))
    assert {event["site"] for event in events} == {"lab"}


def test_a_worker_missing_a_variable_its_stage_uses_says_which(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    config = write_config(
        tmp_path,
        "- TcpServer:\n   port: ${GP_TCP_PORT}\n"
        "- FileSink:\n   file_name: ${GP_OUT}\n   json_lines: true\n",
    )
    environment = {key: value for key, value in os.environ.items() if not key.startswith("GP_")}
    result = subprocess.run(
        [str(VENV_BIN / "celery"), "-A", "gp_celery", "worker", "--gp-config", str(config)],
        env={**environment, "GP_BROKER_URL": redis_server.url},
        capture_output=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    text = result.stderr.decode()
    assert result.returncode != 0
    assert "environment variable 'GP_OUT' is not set and has no default" in text
    assert "GP_TCP_PORT" not in text
