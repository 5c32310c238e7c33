"""A record that kills its worker process (SIGKILL, as a segfault or the OOM killer would):
its chunk is split until that one record is alone; it goes to the dead letters with the
reason, and every other record of the chunk goes on."""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.conftest import ROOT, RedisServer, StartWorker, wait_for
from tests.distributed.conftest import (
    WORKER_ENV,
    StartListener,
    ids_of,
    line,
    send_lines,
    settle,
    wait_for_ids,
    write_config,
)

DEAD_LETTERS = "gp-celery:dead-letters"


def test_a_record_that_kills_its_worker_is_isolated_and_dead_lettered(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: StartWorker,
    start_listener: StartListener,
) -> None:
    out = tmp_path / "out.jsonl"
    config = write_config(
        tmp_path,
        f"""- Global:
   plugins: [tests.plugins.poison]
   max_deliveries: 1
- TcpServer:
   interface: 127.0.0.1
   port: 0
- KillOnPoison
- FileSink:
   file_name: {out}
   json_lines: true
""",
    )
    env = {**WORKER_ENV, "PYTHONPATH": str(ROOT)}
    worker = start_worker(config, redis_server.url, concurrency=2, env=env)
    listener = start_listener(config, redis_server.url, env={"PYTHONPATH": str(ROOT)})
    count, poison = 300, 123
    lines = [line(n) + (" POISON" if n == poison else "") for n in range(count)]
    send_lines(listener.port, lines)
    assert listener.terminate() == 0
    assert listener.published_chunks() == 1  # one chunk held the poison among the others

    others = [n for n in range(count) if n != poison]
    counts = wait_for_ids(out, others, timeout=120)
    broker = redis_server.client()
    wait_for(lambda: broker.llen(DEAD_LETTERS) == 1, 60, "the poison record dead-lettered")
    assert poison not in ids_of(settle(out, quiet=1.0))
    assert set(counts.values()) == {1}  # parts that finished never ran again

    letter = orjson.loads(broker.lindex(DEAD_LETTERS, 0))
    assert letter["kind"] == "poison"
    assert letter["node"] == "TcpServer"
    assert "its worker process died each of the 1 times it ran this record" in letter["error"]
    [event] = letter["events"]
    assert event["data"] == lines[poison]
    log = worker.output()
    assert "started 1 times and its worker process died each time; split in two" in log
    assert worker.process.poll() is None  # the worker lives on (its pool replaced the dead)
    assert broker.zcard("gp-celery:stored") == 0  # every part was done with
