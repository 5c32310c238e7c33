"""librdkafka's mock cluster: real Kafka brokers (the wire protocol, in-process) for tests.

A producer made with ``test.mock.num.brokers`` starts the mock brokers inside librdkafka and
keeps them while it lives; the broker addresses it reports in its metadata are real
loopback ports that any client (the sink under test, a consumer reading back) can use.
Nothing is mocked on our side: the sink talks Kafka to them over TCP.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest


class MockCluster:
    """A mock cluster and a way to read back what was written to it."""

    def __init__(self, brokers: int = 1) -> None:
        from confluent_kafka import Producer

        self._holder = Producer({"test.mock.num.brokers": brokers})
        metadata = self._holder.list_topics(timeout=10)
        if not metadata.brokers:
            pytest.fail("librdkafka's mock cluster reported no brokers")
        self.bootstrap = ",".join(f"{b.host}:{b.port}" for b in metadata.brokers.values())

    def produce(self, topic: str, values: list[bytes | None], partition: int = 0) -> None:
        """Write the values (None: a tombstone), in order, to one partition of ``topic``."""
        from confluent_kafka import Producer

        producer = Producer({"bootstrap.servers": self.bootstrap})
        for value in values:
            producer.produce(topic, value, partition=partition)
        if producer.flush(10):
            pytest.fail(f"the mock cluster did not take every message for {topic}")

    def consume(
        self, count: int, topics: list[str] | None = None, timeout: float = 15
    ) -> list[tuple[str, bytes | None, bytes]]:
        """(topic, key, value) of the messages in ``topics`` (None: every topic), read from
        the beginning until ``count`` arrived or ``timeout`` passed; in order per partition."""
        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"read-back-{time.monotonic_ns()}",
                "enable.auto.commit": False,
            }
        )
        try:
            metadata = consumer.list_topics(timeout=10)
            consumer.assign(
                [
                    TopicPartition(name, partition, OFFSET_BEGINNING)
                    for name, topic in metadata.topics.items()
                    if not name.startswith("__") and (topics is None or name in topics)
                    for partition in topic.partitions
                ]
            )
            messages: list[tuple[str, bytes | None, bytes]] = []
            deadline = time.monotonic() + timeout
            while len(messages) < count and time.monotonic() < deadline:
                message: Any = consumer.poll(0.2)
                if message is None or message.error():
                    continue
                messages.append((message.topic(), message.key(), message.value()))
            return messages
        finally:
            consumer.close()

    def close(self) -> None:
        self._holder.flush(1)


@contextmanager
def mock_cluster(brokers: int = 1) -> Iterator[MockCluster]:
    cluster = MockCluster(brokers)
    try:
        yield cluster
    finally:
        cluster.close()
