"""Two stages on two queues, each served by its own worker process: the first stage's task
sends the events that cross to `queue: second` on as new batches, which wait in that queue
until a worker consuming it runs them."""

from __future__ import annotations

import re
import time
from pathlib import Path

from tests.conftest import RedisServer, StartWorker, wait_for
from tests.distributed.conftest import (
    FAST_BATCHES,
    WORKER_ENV,
    StartListener,
    duplicates,
    line,
    send_lines,
    settle,
    sink_events,
    wait_for_ids,
    write_config,
)

REFUSED = "command not allowed when used memory > 'maxmemory'"


def tasks_run(log: str) -> int:
    return len(re.findall(r"Task gp_celery\.run_stage\[\S+\] succeeded", log))


def test_two_stages_on_two_queues_run_on_two_workers(
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
    - test_line: '^id-(?P<number>\\d+) message'
   add_fields: {{first_stage: done}}
- ModifyFields:
   queue: second
   action: cast_to_int
   source_fields: [number]
   add_fields: {{second_stage: done}}
- FileSink:
   file_name: {out}
   json_lines: true
""",
    )
    broker = redis_server.client()
    first = start_worker(config, redis_server.url, queues="gp-celery", env=WORKER_ENV, name="a")
    listener = start_listener(config, redis_server.url)
    count = 1000
    send_lines(listener.port, (line(n) for n in range(count)))
    assert listener.terminate() == 0
    batches = listener.published_batches()

    # Worker A runs the first stage; what crosses to 'second' waits there, since nobody
    # consumes that queue yet. Nothing reaches the sink, which is in the second stage.
    wait_for(lambda: tasks_run(first.output()) == batches, 20, "stage one to run")
    wait_for(lambda: broker.llen("second") == batches, 10, "every crossing batch queued")
    assert broker.llen("gp-celery") == 0
    assert sink_events(out) == []

    second = start_worker(config, redis_server.url, queues="second", env=WORKER_ENV, name="b")
    counts = wait_for_ids(out, range(count), timeout=30)
    events = settle(out, quiet=0.5)
    assert set(counts.values()) == {1}
    assert broker.llen("second") == 0
    assert tasks_run(second.output()) == batches  # each crossing batch ran once, on B
    assert tasks_run(first.output()) == batches  # and A ran none of them
    for event in events:
        assert event["first_stage"] == "done"
        assert event["second_stage"] == "done"
        assert event["number"] == int(event["data"][3:9])  # cast by the second stage


def test_crossing_batches_survive_a_broker_at_maxmemory(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: StartWorker,
    start_listener: StartListener,
) -> None:
    """Redis at maxmemory (noeviction, as the listener asks) refuses new batches, also the
    ones a first-stage task sends on: that task must give its batch back, not drop it."""
    out = tmp_path / "out.jsonl"
    config = write_config(
        tmp_path,
        f"""{FAST_BATCHES}- TcpServer:
   interface: 127.0.0.1
   port: 0
- RegexParser:
   field_extraction_patterns:
    - test_line: '^id-(?P<number>\\d+) message'
- ModifyFields:
   queue: second
   action: cast_to_int
   source_fields: [number]
- FileSink:
   file_name: {out}
   json_lines: true
""",
    )
    broker = redis_server.client()
    first = start_worker(config, redis_server.url, queues="gp-celery", env=WORKER_ENV, name="a")
    listener = start_listener(config, redis_server.url)
    used = int(broker.info("memory")["used_memory"])
    broker.config_set("maxmemory", used + 2_000_000)
    count = 10_000
    send_lines(listener.port, (line(n, width=200) for n in range(count)), wait_read=False)
    wait_for(lambda: REFUSED in first.output(), 30, "the broker to refuse a crossing batch")
    time.sleep(2)  # full for a while: the listener and the first stage keep trying
    broker.config_set("maxmemory", 0)
    start_worker(config, redis_server.url, queues="second", env=WORKER_ENV, name="b")
    counts = wait_for_ids(out, range(count), timeout=60)
    settle(out, quiet=1.0)
    counts = wait_for_ids(out, range(count), timeout=1)
    dup = duplicates(counts)
    print(f"\nmaxmemory: {count} events, {dup} duplicates")
    assert "could not be handed on" in first.output()
    assert "goes back to the queue" in first.output()
    assert REFUSED in listener.output()  # the listener waited too, and lost nothing
    assert first.process.poll() is None
    assert listener.terminate() == 0
