"""A batch that reached Elasticsearch and then ran again (its worker process was SIGKILLed
before the task was acknowledged) leaves the document count unchanged: the document ids
are the event ids, which come from the chunk and the position in it, so the second run
overwrites what the first wrote. The Elasticsearch is the project's stand-in."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.conftest import RedisServer, StartWorker, wait_for
from tests.distributed.conftest import (
    FAST_BATCHES,
    WORKER_ENV,
    StartListener,
    line,
    send_lines,
    write_config,
)
from tests.stand_ins.es_server import EsServer


def test_a_batch_written_twice_after_a_sigkill_leaves_the_document_count_unchanged(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: StartWorker,
    start_listener: StartListener,
    es_stand_in: EsServer,
) -> None:
    config = write_config(
        tmp_path,
        f"{FAST_BATCHES}- TcpServer:\n   interface: 127.0.0.1\n   port: 0\n"
        f"- ElasticSearchSink:\n   nodes: [{es_stand_in.address}]\n   index_name: redelivery\n",
    )
    # The first bulk request is stored, then its answer waits: the worker's process is
    # killed while the batch is written but not acknowledged.
    es_stand_in.inject(requests=[{"stall_after_store": 20}])
    worker = start_worker(config, redis_server.url, concurrency=1, env=WORKER_ENV)
    listener = start_listener(config, redis_server.url)
    count = 1000
    send_lines(listener.port, (line(n, width=60) for n in range(count)))

    wait_for(lambda: es_stand_in.stats()["stalled"] == 1, 30, "a bulk request stored")
    first_write = es_stand_in.stats()["bulk_items"]
    assert first_write >= 1
    (child,) = worker.pool_children()
    os.kill(child, signal.SIGKILL)
    wait_for(lambda: "WorkerLostError" in worker.output(), 30, "the worker to notice")

    def all_stored_and_the_killed_batch_again() -> bool:
        stats = es_stand_in.stats()
        return stats["documents"] >= count and stats["bulk_items"] >= count + first_write

    wait_for(all_stored_and_the_killed_batch_again, 60, "every line in Elasticsearch")
    assert es_stand_in.count("redelivery") == count
    stats = es_stand_in.stats()
    assert stats["bulk_items"] >= count + first_write  # the killed batch went twice
    ids = set(es_stand_in.documents("redelivery"))
    assert len(ids) == count
    assert listener.terminate() == 0
