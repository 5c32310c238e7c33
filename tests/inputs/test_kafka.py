"""Kafka input against librdkafka's mock cluster: real brokers speaking the Kafka protocol
on loopback (tests/modules/kafka_cluster.py). The consumers use the KIP-848 group protocol
(``group.protocol: consumer``), which the mock cluster assigns in milliseconds instead of
the classic protocol's three-second join delay."""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from gp_celery.event import META, RECEIVED_FROM
from gp_celery.framing import INVALID_UTF8, Chunk, decode_chunk
from gp_celery.testing import BuildError, build
from gp_celery_inputs.listener.runner import Chunker
from tests.conftest import wait_for
from tests.inputs.conftest import ServeFactory, errors
from tests.modules.kafka_cluster import MockCluster, mock_cluster

FAST_GROUPS = {"group.protocol": "consumer"}
_names = itertools.count()


@pytest.fixture(scope="module")
def cluster() -> Iterator[MockCluster]:
    with mock_cluster() as running:
        yield running


def options(cluster: MockCluster, topic: str, **more: Any) -> dict[str, Any]:
    return {
        "brokers": cluster.bootstrap,
        "topics": topic,
        "group_id": f"{topic}-group",
        "auto_offset_reset": "smallest",
        "consumer_settings": FAST_GROUPS,
        **more,
    }


def fresh_topic() -> str:
    return f"topic-{next(_names)}"


def test_messages_become_events_in_order_from_their_topic(
    cluster: MockCluster, serve_input: ServeFactory
) -> None:
    topic = fresh_topic()
    sent = [f"message {number}".encode() for number in range(300)]
    cluster.produce(topic, list(sent))
    serving = serve_input("Kafka", options(cluster, topic))
    events = serving.emit.wait_for(300)
    assert len(serving.emit.settle(quiet=0.2)) == 300
    serving.stop()
    serving.module.close()
    assert [event["data"] for event in events] == [value.decode() for value in sent]
    assert {event[META][RECEIVED_FROM] for event in events} == {topic}
    assert all(errors(event) == [] for event in events)


OVERSIZE = "datagram of {} bytes exceeds max_message_bytes=1000; truncated"
HOSTILE: list[tuple[bytes | None, str | None, list[str]]] = [
    (b"bad \xff\xfe", "bad \ufffd\ufffd", [INVALID_UTF8]),
    (b"\x00\x01\x80binary\x00", "\x00\x01\ufffdbinary\x00", [INVALID_UTF8]),
    (b"", "", []),
    (None, None, []),  # a tombstone: counted, no event
    (b"x" * 2000, "x" * 1000, [OVERSIZE.format(2000)]),
    # cut at a character boundary: the 500th 'e acute' would end at byte 1001
    (b"a" + "\u00e9".encode() * 1000, "a" + "\u00e9" * 499, [OVERSIZE.format(2001)]),
    (b"x" * 999 + b"\xff" * 5, "x" * 999 + "\ufffd", [INVALID_UTF8, OVERSIZE.format(1004)]),
    (b"  spaces kept \n", "  spaces kept \n", []),
]


def test_hostile_values_are_tagged_or_counted_and_nothing_is_lost(
    cluster: MockCluster, serve_input: ServeFactory
) -> None:
    topic = fresh_topic()
    cluster.produce(topic, [*(value for value, _, _ in HOSTILE), b"next"])
    serving = serve_input("Kafka", options(cluster, topic, max_message_bytes=1000))
    expected = [(text, reasons) for _, text, reasons in HOSTILE if text is not None]
    events = serving.emit.wait_for(len(expected) + 1)
    assert len(serving.emit.settle(quiet=0.2)) == len(expected) + 1
    serving.stop()
    serving.module.close()
    assert [(event["data"], errors(event)) for event in events] == [*expected, ("next", [])]
    assert serving.module.stats.counts["tombstones"] == 1


def consume(cluster: MockCluster, topic: str, count: int, *, deliver: bool = True) -> list[str]:
    """Read ``count`` messages as the group ``<topic>-group`` through a real Chunker (a chunk
    per emit), then close: with ``deliver``, every chunk is delivered as soon as it is
    emitted; without, nothing is (a listener stopped before the broker took the chunk)."""
    module = build("Kafka", options(cluster, topic, messages_to_read=count))
    chunks: list[Chunk] = []

    async def publish(chunk: Chunk) -> None:
        chunks.append(chunk)

    chunker = Chunker(module, publish, 1 if deliver else 1 << 30, 1 << 30)

    async def main() -> None:
        await asyncio.wait_for(module.serve(chunker.emit), 20)
        if not deliver:
            assert chunker.pending_marks, "the marks are left undelivered"
            chunker.pending_marks.clear()
            chunker.pending.clear()

    asyncio.run(main())
    module.close()
    return [event["data"] for chunk in chunks for event in decode_chunk(chunk).events]


def test_a_restarted_group_resumes_after_the_last_delivered_message(
    cluster: MockCluster,
) -> None:
    topic = fresh_topic()
    cluster.produce(topic, [b"%d" % number for number in range(10)])
    assert consume(cluster, topic, 10) == [str(number) for number in range(10)]
    cluster.produce(topic, [b"%d" % number for number in range(10, 20)])
    assert consume(cluster, topic, 10) == [str(number) for number in range(10, 20)]
    # Read but never delivered: nothing is committed, so the next consumer reads them again.
    cluster.produce(topic, [b"%d" % number for number in range(20, 25)])
    assert consume(cluster, topic, 5, deliver=False) == []
    assert consume(cluster, topic, 5) == [str(number) for number in range(20, 25)]


def test_lumbermill_and_kafka_python_options_are_accepted() -> None:
    module = build(
        "input.Kafka",
        {
            "topic": "logs",
            "brokers": ["kafka1:9092", "kafka2:9092"],
            "group_id": "lumbermill.MY_HOSTNAME",
            "auto_offset_reset": "smallest",
            "auto_commit_enable": False,
            "auto_commit_interval_ms": 60000,
            "consumer_timeout_ms": -1,
            "fetch_wait_max_ms": 100,
        },
    )
    assert module.options.subscription() == ["logs"]
    assert "MY_HOSTNAME" not in module.group()
    assert build("Kafka", {"topics": ["a", "b"]}).group() == "gp-celery.Kafka"


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"topics": "a", "topic": "b"},
        {"topics": "a", "brokers": ["no-port"]},
        {"topics": "a", "auto_offset_reset": "middle"},
        {"topics": "a", "consumer_settings": {"enable.auto.commit": True}},
        {"topics": "a", "max_message_bytes": 0},
    ],
)
def test_bad_options_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(BuildError):
        build("Kafka", bad)


def test_unreachable_brokers_are_logged_and_the_input_keeps_trying(
    serve_input: ServeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    serving = serve_input("Kafka", {"brokers": f"127.0.0.1:{port}", "topics": "t"})
    wait_for(lambda: "Kafka _TRANSPORT" in caplog.text, 15, "a warning about the brokers")
    assert serving.error is None
    serving.stop()
    serving.module.close()
    assert serving.emit.events == []


def test_two_members_of_a_group_share_the_partitions_without_repeating_a_message(
    cluster: MockCluster,
) -> None:
    topic = fresh_topic()
    total = 400
    seen: dict[str, list[str]] = {"first": [], "second": []}
    members = {name: build("Kafka", options(cluster, topic)) for name in seen}

    def publisher(name: str) -> Any:
        async def publish(chunk: Chunk) -> None:
            seen[name] += [event["data"] for event in decode_chunk(chunk).events]

        return publish

    def produce_slowly() -> None:  # while the second member joins and the group rebalances
        from confluent_kafka import Producer

        producer = Producer({"bootstrap.servers": cluster.bootstrap, "linger.ms": 0})
        for number in range(total):
            producer.produce(topic, b"%d" % number, partition=number % 4)
            if number % 50 == 49:
                producer.flush(10)
                threading.Event().wait(0.03)
        assert producer.flush(10) == 0

    async def join(name: str) -> asyncio.Task[None]:
        module = members[name]
        chunker = Chunker(module, publisher(name), 1, 1 << 30)  # delivered at once
        return asyncio.create_task(module.serve(chunker.emit))

    async def main() -> None:
        serving = [await join("first")]
        await asyncio.sleep(0.3)
        wait = asyncio.get_running_loop().run_in_executor(None, produce_slowly)
        await asyncio.sleep(0.3)  # the first member is reading every partition now
        serving.append(await join("second"))
        for _ in range(400):
            if sum(map(len, seen.values())) >= total:
                break
            await asyncio.sleep(0.05)
        await wait
        await asyncio.sleep(0.3)  # anything read twice would arrive now
        for task in serving:
            task.cancel()
        await asyncio.gather(*serving, return_exceptions=True)

    asyncio.run(main())
    for module in members.values():
        module.close()
    everything = seen["first"] + seen["second"]
    assert sorted(everything, key=int) == [str(n) for n in range(total)]
    assert seen["first"], "the first member read a share"
    assert seen["second"], "the second member read a share"
