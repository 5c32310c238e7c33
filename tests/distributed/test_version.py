"""A batch made for another config version is refused, sent back, then parked: never run
by the wrong pipeline, never dropped."""

from __future__ import annotations

import time
from pathlib import Path

import orjson

from tests.conftest import RedisServer, StartWorker, wait_for
from tests.distributed.conftest import (
    FAST_BATCHES,
    VISIBILITY_SECS,
    WORKER_ENV,
    StartListener,
    ids_of,
    line,
    send_lines,
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
