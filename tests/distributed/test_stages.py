"""Two stages on two queues, each served by its own worker process: the first stage's task
sends the events that cross to `queue: second` on as new batches, which wait in that queue
until a worker consuming it runs them. And a task that cannot hand its results on gives its
batch back rather than failing (and being acknowledged)."""

from __future__ import annotations

import re
import time
from pathlib import Path

from tests.conftest import RedisServer, StartWorker, free_port, wait_for
from tests.distributed.conftest import (
    FAST_BATCHES,
    WORKER_ENV,
    StartListener,
    duplicates,
    ids_of,
    line,
    send_lines,
    settle,
    sink_events,
    wait_for_ids,
    write_config,
)


def two_stages(tmp_path: Path) -> tuple[Path, Path]:
    """TcpServer -> RegexParser, then on queue 'second': ModifyFields -> FileSink; each
    stage adds a field, so an event in the file has been through both."""
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
    return config, out


def tasks_run(log: str) -> int:
    return len(re.findall(r"Task gp_celery\.run_stage\[\S+\] succeeded", log))


def test_two_stages_on_two_queues_run_on_two_workers(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: StartWorker,
    start_listener: StartListener,
) -> None:
    config, out = two_stages(tmp_path)
    broker = redis_server.client()
    first = start_worker(config, redis_server.url, queues="gp-celery", env=WORKER_ENV, name="a")
    listener = start_listener(config, redis_server.url)
    count = 1000
    send_lines(listener.port, (line(n) for n in range(count)))
    assert listener.terminate() == 0
    batches = listener.published_chunks()

    # Worker A runs the first stage; what crosses to 'second' waits there, since nobody
    # consumes that queue yet. Nothing reaches the sink, which is in the second stage.
    wait_for(lambda: tasks_run(first.output()) == batches, 60, "stage one to run")
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
    # Each worker built only the stage it consumes.
    assert "; runs RegexParser.\n" in first.output()
    assert "; runs ModifyFields, FileSink.\n" in second.output()
    for event in events:
        assert event["first_stage"] == "done"
        assert event["second_stage"] == "done"
        assert event["number"] == int(event["data"][3:9])  # cast by the second stage


def test_a_batch_that_cannot_be_handed_on_goes_back_to_its_queue(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: StartWorker,
    start_listener: StartListener,
) -> None:
    """The Redis that holds the batches (GP_REDIS_URL, here apart from the broker) is down
    while the workers start on a backlog. Tasks that cannot read their batch (or store the
    one crossing to the next stage) give their message back: a task that failed would be
    acknowledged, and its events gone."""
    (tmp_path / "store").mkdir()
    store = RedisServer(free_port(), tmp_path / "store")
    store.start()
    try:
        config, out = two_stages(tmp_path)
        listener = start_listener(config, redis_server.url, env={"GP_REDIS_URL": store.url})
        count = 5000
        send_lines(listener.port, (line(n) for n in range(count)))
        assert listener.terminate() == 0
        batches = listener.published_chunks()
        broker = redis_server.client()
        assert broker.llen("gp-celery") == batches  # the backlog, waiting for workers

        store.stop()
        env = {**WORKER_ENV, "GP_REDIS_URL": store.url}
        first = start_worker(config, redis_server.url, queues="gp-celery", env=env, name="a")
        start_worker(config, redis_server.url, queues="second", env=env, name="b")
        wait_for(lambda: "could not read its data" in first.output(), 60, "a refused task")
        time.sleep(2)
        store.start()  # with its AOF: every stored batch is back
        counts = wait_for_ids(out, range(count), timeout=60)
        counts = ids_of(settle(out, quiet=1.0))
        print(f"\nbatch store restart: {count} events, {duplicates(counts)} duplicates")
        assert set(counts.values()) == {1}
        assert "goes back to the queue" in first.output()
        assert broker.llen("gp-celery") == broker.llen("second") == broker.hlen("unacked") == 0
    finally:
        store.stop()
