"""The sweep: a chunk stored without a task message (its message lost in a broker restart,
or its listener killed between storing and sending) is found and sent again; a chunk whose
message is still waiting in a queue is left alone."""

from __future__ import annotations

import time
from pathlib import Path

from gp_celery.broker.messages import Outbox
from gp_celery.broker.store import ChunkStore
from gp_celery.config import load_config
from gp_celery.framing import Chunk, Framing, Piece
from tests.conftest import RedisServer, StartWorker, wait_for
from tests.distributed.conftest import SWEEPING, ids_of, line, settle, sink_events, write_config

CONFIG = """- TcpServer:
   interface: 127.0.0.1
   port: 0
- JsonParser:
   queue: {queue}
- FileSink:
   file_name: {out}
   json_lines: true
"""


def chunk_of(numbers: range) -> Chunk:
    data = "".join(f"{line(n)}\n" for n in numbers).encode()
    return Chunk("TcpServer", "TcpServer", Framing(strip=True), [Piece("127.0.0.1:1", data)])


def test_a_stored_chunk_whose_message_was_lost_is_sent_again(
    tmp_path: Path, redis_server: RedisServer, start_worker: StartWorker
) -> None:
    out = tmp_path / "out.jsonl"
    config_path = write_config(tmp_path, CONFIG.format(queue="gp-celery", out=out))
    config = load_config(config_path)
    store = ChunkStore(redis_server.client(), ttl_secs=3600)
    # What a listener leaves behind when it dies between storing a chunk and sending it.
    store.put_chunk(chunk_of(range(100)), "TcpServer", "gp-celery", config.digests["gp-celery"])
    worker = start_worker(config_path, redis_server.url, env=SWEEPING)
    wait_for(lambda: len(sink_events(out)) >= 100, 60, "the orphaned chunk's events")
    counts = ids_of(settle(out, quiet=2.0))  # two more sweeps: nothing is sent twice
    assert counts == dict.fromkeys(range(100), 1)
    assert "was stored but its task message was lost" in worker.output()
    assert redis_server.client().zcard("gp-celery:stored") == 0


def test_a_chunk_whose_message_waits_in_a_queue_is_not_sent_again(
    tmp_path: Path, redis_server: RedisServer, start_worker: StartWorker
) -> None:
    out = tmp_path / "out.jsonl"
    config_path = write_config(tmp_path, CONFIG.format(queue="late", out=out))
    config = load_config(config_path)
    from gp_celery.app import make_app
    from gp_celery.broker.settings import BrokerSettings

    # An app of its own: the module's app keeps the pools of the broker it first used.
    app = make_app(BrokerSettings(broker_url=redis_server.url, store_url=redis_server.url))
    client = redis_server.client()
    outbox = Outbox(app, ChunkStore(client, ttl_secs=3600))
    outbox.send_batch([{"data": '{"a": 1}'}], "JsonParser", "late", config.digests["late"])
    # A worker of the first stage only: the 'late' queue waits, and the sweep sees it there.
    worker = start_worker(config_path, redis_server.url, queues="gp-celery", env=SWEEPING)
    time.sleep(3 + 3 * 1.5)  # past the grace period, several sweeps
    assert client.llen("late") == 1
    assert "Sweep:" not in worker.output()
