"""A sink that cannot write: after its retries, a worker keeps the events, whole and with
the error, in the Redis list gp-celery:dead-letters (nothing is dropped)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tests.conftest import RedisServer, StartWorker, wait_for
from tests.distributed.conftest import (
    WORKER_ENV,
    StartListener,
    ids_of,
    line,
    send_lines,
    write_config,
)

DEAD_LETTERS = "gp-celery:dead-letters"


@pytest.mark.parametrize(
    ("target", "error", "retried"),
    [
        # A full disk: worth retrying (ENOSPC), so retried once, then dead-lettered.
        ("/dev/full", "No space left on device", True),
        # A directory that cannot be created: a person must act, so no retry.
        ("{tmp}/a-file/out.jsonl", "Not a directory", False),
    ],
    ids=["disk-full", "not-a-directory"],
)
def test_events_a_sink_cannot_write_go_to_the_redis_dead_letter_list(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: StartWorker,
    start_listener: StartListener,
    target: str,
    error: str,
    retried: bool,
) -> None:
    (tmp_path / "a-file").write_text("a file where a directory is expected\n")
    config = write_config(
        tmp_path,
        f"""- Global:
   batch_size: 50
   batch_ms: 50
   sink_retries: 1
   sink_retry_base_secs: 0.01
- TcpServer:
   interface: 127.0.0.1
   port: 0
- FileSink:
   id: archive
   file_name: {target.format(tmp=tmp_path)}
   json_lines: true
""",
    )
    worker = start_worker(config, redis_server.url, env=WORKER_ENV)
    listener = start_listener(config, redis_server.url)
    count = 500
    send_lines(listener.port, (line(n) for n in range(count)))
    broker = redis_server.client()
    wait_for(lambda: broker.llen(DEAD_LETTERS) >= count, 20, f"{count} dead letters")

    letters = [orjson.loads(raw) for raw in broker.lrange(DEAD_LETTERS, 0, -1)]
    events = [event for letter in letters for event in letter["events"]]
    assert sorted(ids_of(events).elements()) == list(range(count))
    for letter in letters:
        assert (letter["kind"], letter["node"]) == ("failed", "archive")
        assert error in letter["error"]
        assert letter["digest"]
        assert letter["attempts"] == (2 if retried else 1)
        [recorded] = letter["events"][0]["gambolputty"]["errors"]
        assert recorded["node"] == "archive"
        assert error in recorded["reason"]
    log = worker.output()
    sentence = f"archive: 50 events set aside (failed: {letters[0]['error']})"
    assert f"{sentence}; kept in Redis list '{DEAD_LETTERS}'." in log
    assert ("retry 1/1" in log) is retried
    assert broker.llen("gp-celery") == 0
    # The batches were done with, not left to redeliver (a task's acknowledgement follows
    # its last dead letter by a moment).
    wait_for(lambda: broker.hlen("unacked") == 0, 10, "every batch acknowledged")
