"""A real `gp-celery listen` tailing a file and a real Celery worker writing a FileSink:
every line arrives once; after the listener is killed with SIGKILL mid-file and started again,
none is lost and the lines sent twice are at most the chunk that was in flight (published,
its offset not yet saved)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from gp_celery.modules.base import Input
from tests.conftest import RedisServer, StartWorker
from tests.distributed.conftest import (
    GP,
    WORKER_ENV,
    duplicates,
    ids_of,
    line,
    settle,
    wait_for_ids,
    write_config,
)

LINES = 6000
WIDTH = 100
CHUNK_BYTES = 4096


def listen(config: Path, broker_url: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        return subprocess.Popen(
            [GP, "listen", "-c", str(config), "--broker", broker_url],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "GP_BROKER_URL": broker_url},
            start_new_session=True,
        )


def write_lines(log: Path, first: int, stop: int) -> threading.Thread:
    def write() -> None:
        with log.open("a") as out:
            for start in range(first, stop, 100):
                out.write(
                    "".join(line(n, WIDTH) + "\n" for n in range(start, min(stop, start + 100)))
                )
                out.flush()
                time.sleep(0.01)

    writer = threading.Thread(target=write)
    writer.start()
    return writer


def test_listener_tailing_a_file_killed_mid_file_loses_no_line(
    tmp_path: Path, redis_server: RedisServer, start_worker: StartWorker
) -> None:
    app_log, out = tmp_path / "app.log", tmp_path / "out.jsonl"
    app_log.write_text(line(0, WIDTH) + "\n")
    config = write_config(
        tmp_path,
        f"""- File:
   paths: {app_log}
   mode: tail
   start_position: beginning
   sincedb_path: {tmp_path / "sincedb.json"}
   sincedb_write_interval: 0
   stat_interval: 0.1
   chunk_bytes: {CHUNK_BYTES}
- FileSink:
   file_name: {out}
   json_lines: true
""",
    )
    start_worker(config, redis_server.url, env=WORKER_ENV)
    first = listen(config, redis_server.url, tmp_path / "listener-0.log")
    second = None
    try:
        wait_for_ids(out, [0], 60)
        writer = write_lines(app_log, 1, LINES)
        wait_for_ids(out, range(LINES // 4), 30)
        first.send_signal(signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
        # What the killed listener published: the worker writes it all before going quiet.
        published = set(ids_of(settle(out, quiet=0.5)))
        second = listen(config, redis_server.url, tmp_path / "listener-1.log")
        writer.join()
        counts = wait_for_ids(out, range(LINES), 60)
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
    counts = wait_for_ids(out, range(LINES), 5)
    # Only lines the killed listener had published can come twice (their offset was not
    # saved yet): at most the chunk in flight. Every other line arrives exactly once.
    twice = {number for number, count in counts.items() if count > 1}
    assert twice <= published
    assert all(count == 1 for number, count in counts.items() if number not in published)
    assert duplicates(counts) <= (CHUNK_BYTES + Input.feed_bytes) // WIDTH + 1
