"""Sink faults in a fleet (a real `gp-celery listen` and a real Celery worker on a real
redis-server): an Elasticsearch (the project's stand-in) down for a while holds the
worker in its retries, the queue fills to the listener's high-water mark and the listener
stops reading, so the TCP client blocks instead of the broker growing; when Elasticsearch
is back every line is one document under one id and nothing went to the dead letters."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from gp_celery.broker.letters import DEAD_LETTER_KEY
from tests.conftest import RedisServer, StartWorker, free_port, wait_for
from tests.distributed.conftest import (
    FAST_BATCHES,
    WORKER_ENV,
    StartListener,
    line,
    send_lines,
    write_config,
)
from tests.e2e.conftest import gp
from tests.stand_ins.es_server import EsServer, start_stand_in

INDEX = "fleet-faults"
HIGH_WATER, LOW_WATER = 5, 2
LINE = re.compile(r"^id-(\d+)")


def _documents(es: EsServer) -> dict[str, dict[str, Any]]:
    with es.client(request_timeout=60) as client:
        client.indices.refresh(index=INDEX, ignore_unavailable=True)
        found = client.search(index=INDEX, size=1_000_000, ignore_unavailable=True)
    return {hit["_id"]: hit["_source"] for hit in found["hits"]["hits"]}


def test_elasticsearch_down_for_a_while_pauses_the_listener_and_every_line_lands_once(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: StartWorker,
    start_listener: StartListener,
) -> None:
    """Down 15 s; the worker's retries (30, 0.5 s doubling to at most 2 s, jittered: at
    least 28 s) outlast it. The worker keeps the production visibility timeout (a task
    busy retrying is not handed to another worker meanwhile)."""
    es = start_stand_in(tmp_path)
    servers = [es]
    try:
        config = write_config(
            tmp_path,
            f"""- Global:
   chunk_bytes: 16384
   batch_ms: 50
   high_water_batches: {HIGH_WATER}
   low_water_batches: {LOW_WATER}
   sink_retries: 30
   sink_retry_base_secs: 0.5
   sink_retry_max_secs: 2
- TcpServer:
   interface: 127.0.0.1
   port: 0
- ElasticSearchSink:
   id: es
   nodes: [{es.address}]
   index_name: {INDEX}
""",
        )
        worker = start_worker(config, redis_server.url)
        listener = start_listener(config, redis_server.url)
        broker = redis_server.client()
        es.stop()
        count = 10_000  # 20 MB: more than the socket buffers and the queue's mark hold
        sent = [0]

        def send() -> None:
            with socket.create_connection(("127.0.0.1", listener.port), timeout=120) as client:
                client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 16)
                for start in range(0, count, 100):
                    chunk = "".join(f"{line(n, width=2000)}\n" for n in range(start, start + 100))
                    client.sendall(chunk.encode())
                    sent[0] = start + 100
                client.shutdown(socket.SHUT_WR)
                assert client.recv(1) == b""

        sender = threading.Thread(target=send, daemon=True)
        down_since = time.monotonic()
        sender.start()
        wait_for(lambda: broker.llen("gp-celery") >= HIGH_WATER, 20, "the queue to fill")
        depths = []
        while time.monotonic() - down_since < 15:
            depths.append(broker.llen("gp-celery"))
            time.sleep(0.1)
        assert max(depths) <= HIGH_WATER + 1, depths
        assert sent[0] < count // 2, "the client could send on: nothing held it back"
        assert f"inputs pause until it is below {LOW_WATER}" in listener.output()

        port = int(es.url.rsplit(":", 1)[1])
        es = start_stand_in(tmp_path, port=port)
        servers.append(es)
        sender.join(timeout=60)
        assert not sender.is_alive(), worker.output()[-3000:]
        wait_for(lambda: es.stats()["documents"] >= count, 60, "every line in Elasticsearch")
        assert listener.terminate() == 0
        documents = _documents(es)
        lines = Counter(int(LINE.match(doc["data"]).group(1)) for doc in documents.values())  # type: ignore[union-attr]
        assert len(documents) == count
        assert lines == Counter(range(count))
        assert broker.llen(DEAD_LETTER_KEY) == 0
    finally:
        for server in servers:
            server.stop()


def test_a_server_down_past_the_retry_limit_dead_letters_in_redis_and_a_replay_writes_once(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: StartWorker,
    start_listener: StartListener,
) -> None:
    port = free_port()  # nothing listens there until the replay
    config = write_config(
        tmp_path,
        f"""{FAST_BATCHES}   sink_retries: 2
   sink_retry_base_secs: 0.05
   sink_retry_max_secs: 0.1
- TcpServer:
   interface: 127.0.0.1
   port: 0
- ElasticSearchSink:
   id: es
   nodes: [127.0.0.1:{port}]
   index_name: {INDEX}
""",
    )
    start_worker(config, redis_server.url, env=WORKER_ENV)
    listener = start_listener(config, redis_server.url)
    count = 300
    send_lines(listener.port, (line(n) for n in range(count)))
    broker = redis_server.client()

    def dead_events() -> int:
        return sum(
            len(orjson.loads(raw)["events"]) for raw in broker.lrange(DEAD_LETTER_KEY, 0, -1)
        )

    wait_for(lambda: dead_events() >= count, 60, f"{count} dead-lettered events")
    assert dead_events() == count
    letters = [orjson.loads(raw) for raw in broker.lrange(DEAD_LETTER_KEY, 0, -1)]
    assert {(letter["node"], letter["attempts"]) for letter in letters} == {("es", 3)}
    ids = {event["gambolputty"]["event_id"] for letter in letters for event in letter["events"]}
    assert len(ids) == count

    url = redis_server.url
    listed = gp("dlq", "list", "-c", str(config), "--broker", url, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr.decode()
    out = listed.stdout.decode()
    assert out.splitlines()[0].endswith(f"{len(letters)} records, {count} events."), out
    assert re.search(rf"failed\s+es\s+{len(letters)}\s+{count}\s", out), out

    es = start_stand_in(tmp_path, port=port)
    try:
        replay = gp("dlq", "replay", "-c", str(config), "--broker", url, cwd=tmp_path)
        assert replay.returncode == 0, replay.stderr.decode()[-2000:]
        assert (
            replay.stdout.decode()
            .splitlines()[-1]
            .endswith(f"written es {count}; 0 went back to the dead letters.")
        ), replay.stdout.decode()
        documents = _documents(es)
        assert set(documents) == ids  # once each, under the id it had
        lines = Counter(int(LINE.match(doc["data"]).group(1)) for doc in documents.values())  # type: ignore[union-attr]
        assert lines == Counter(range(count))
        assert broker.llen(DEAD_LETTER_KEY) == 0
    finally:
        es.stop()
    assert listener.terminate() == 0
