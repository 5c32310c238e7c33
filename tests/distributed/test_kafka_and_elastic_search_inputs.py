"""Kafka and ElasticSearch inputs in one real `gp-celery listen` with a real Celery worker
(one fleet for both, to keep the suite fast). librdkafka's mock cluster lives in this test
process and the Elasticsearch stand-in in its own; the listener reaches both over loopback."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, RedisServer, StartWorker, wait_for
from tests.distributed.conftest import (
    FAST_BATCHES,
    GP,
    WORKER_ENV,
    Listener,
    line,
    settle,
    wait_for_ids,
    write_config,
)
from tests.modules.kafka_cluster import MockCluster, mock_cluster
from tests.stand_ins.es_server import EsServer


@pytest.fixture
def cluster() -> Iterator[MockCluster]:
    with mock_cluster() as running:
        yield running


@pytest.fixture
def listener_process(tmp_path: Path) -> Iterator[list[Listener]]:
    started: list[Listener] = []
    yield started
    for listener in started:
        if listener.process.poll() is None:
            os.killpg(listener.process.pid, signal.SIGKILL)
            listener.process.wait(timeout=10)


def start_listener(config: Path, broker_url: str, log: Path, started: list[Listener]) -> Listener:
    """`gp-celery listen`, ready once its Kafka input subscribed and its ElasticSearch
    input started searching."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            [GP, "listen", "-c", str(config), "--broker", broker_url],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )
    listener = Listener(process, log)
    started.append(listener)
    wait_for(
        lambda: (
            (
                "Kafka: subscribed to" in listener.output()
                and "ElasticSearch: searching" in listener.output()
            )
            or process.poll() is not None
        ),
        30,
        f"the listener to subscribe (log: {log})",
    )
    assert process.poll() is None, listener.output()
    return listener


def committed(cluster: MockCluster, group: str, topic: str) -> int:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": group})
    try:
        (partition,) = consumer.committed([TopicPartition(topic, 0)], timeout=10)
        return int(partition.offset)
    finally:
        consumer.close()


def test_every_message_and_document_reaches_the_sink_once_and_offsets_are_committed(
    tmp_path: Path,
    cluster: MockCluster,
    es_stand_in: EsServer,
    redis_server: RedisServer,
    start_worker: StartWorker,
    listener_process: list[Listener],
) -> None:
    count = 2000
    out = tmp_path / "out.jsonl"
    config = write_config(
        tmp_path,
        f"""{FAST_BATCHES}- Kafka:
   brokers: {cluster.bootstrap}
   topics: fleet
   group_id: fleet-group
   auto_offset_reset: smallest
   consumer_settings: {{group.protocol: consumer}}
   receivers: [FileSink]
- ElasticSearch:
   nodes: {es_stand_in.url}
   index_name: fleet
   batch_size: 200
   query_interval_in_secs: 0
- FileSink:
   file_name: {out}
   json_lines: true
""",
    )
    from elasticsearch import helpers

    documents = [{"_index": "fleet", "data": line(number)} for number in range(count, count + 500)]
    with es_stand_in.client() as es:
        assert helpers.bulk(es, documents) == (500, [])
    cluster.produce("fleet", [line(number).encode() for number in range(count // 2)])
    start_worker(config, redis_server.url, env=WORKER_ENV)
    listener = start_listener(config, redis_server.url, tmp_path / "listener.log", listener_process)
    cluster.produce("fleet", [line(number).encode() for number in range(count // 2, count)])
    counts = wait_for_ids(out, range(count + 500), timeout=60)
    assert set(counts.values()) == {1}
    assert "ElasticSearch: read 500 documents from 'fleet'" in listener.output()
    assert listener.terminate() == 0, listener.output()
    assert committed(cluster, "fleet-group", "fleet") == count
    assert len(settle(out, quiet=0.3)) == count + 500
