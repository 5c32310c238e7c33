"""Real receivers for the documented examples of sinks that write over the network.

``RECEIVERS[name](options)`` is a context manager: it starts a real receiver (a ZeroMQ PULL
socket, the WebHDFS stand-in, librdkafka's mock cluster, moto's SQS server), points the
example's options at it and yields ``(options, received)``; ``received(count)`` waits for
``count`` events and returns what arrived, as the events an input would make of it (a text
message or line as ``{"data": text}``, a msgpack or JSON event as itself).
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import msgpack
import orjson

from gp_celery.event import Event

Received = Callable[[int], list[Event]]
Receiver = Callable[[dict[str, Any]], AbstractContextManager[tuple[dict[str, Any], Received]]]


@contextmanager
def zmq_receiver(options: dict[str, Any]) -> Iterator[tuple[dict[str, Any], Received]]:
    """A PULL socket bound on a free loopback port, for a ZmqSink that connects."""
    import zmq

    context = zmq.Context()
    pull = context.socket(zmq.PULL)
    pull.bind("tcp://127.0.0.1:0")
    port = pull.getsockopt(zmq.LAST_ENDPOINT).decode().rsplit(":", 1)[1]

    def received(count: int) -> list[Event]:
        events = []
        while len(events) < count and pull.poll(10_000):
            message = pull.recv()
            if options.get("format") is not None:
                events.append({"data": message.decode("utf-8", "surrogateescape")})
            else:
                events.append(msgpack.unpackb(message, raw=False))
        return events

    try:
        yield {**options, "server": f"127.0.0.1:{port}"}, received
    finally:
        pull.close(linger=0)
        context.term()


@contextmanager
def webhdfs_receiver(options: dict[str, Any]) -> Iterator[tuple[dict[str, Any], Received]]:
    """The WebHDFS stand-in; every line of every file it holds is an event."""
    from tests.stand_ins.webhdfs import webhdfs_stand_in

    with webhdfs_stand_in() as hdfs:

        def received(count: int) -> list[Event]:
            events = []
            for path, data in sorted(hdfs.files().items()):
                text = gzip.decompress(data) if path.endswith(".gz") else data
                events += [{"data": line} for line in text.decode().splitlines()]
            return events

        yield {**options, "server": hdfs.url}, received


@contextmanager
def kafka_receiver(options: dict[str, Any]) -> Iterator[tuple[dict[str, Any], Received]]:
    """librdkafka's mock cluster; a consumer reads every topic the sink wrote to."""
    from tests.modules.kafka_cluster import mock_cluster

    with mock_cluster() as cluster:

        def received(count: int) -> list[Event]:
            messages = cluster.consume(count)
            if options.get("format") is not None:
                return [{"data": value.decode()} for _topic, _key, value in messages]
            return [orjson.loads(value) for _topic, _key, value in messages]

        yield {**options, "brokers": [cluster.bootstrap]}, received


@contextmanager
def sqs_receiver(options: dict[str, Any]) -> Iterator[tuple[dict[str, Any], Received]]:
    """moto's SQS server with the example's queue; boto3 receives what the sink sent."""
    from tests.stand_ins.sqs import CREDENTIALS, MotoSqs

    server = MotoSqs()
    server.start()
    try:
        url = server.queue(options["queue"])

        def received(count: int) -> list[Event]:
            bodies: list[str] = []
            for _ in range(20):
                if len(bodies) >= count:
                    break
                reply = server.client().receive_message(
                    QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1
                )
                bodies += [message["Body"] for message in reply.get("Messages", [])]
            if options.get("format") is not None:
                return [{"data": body} for body in bodies]
            return [orjson.loads(body) for body in bodies]

        yield {**options, **CREDENTIALS, "endpoint_url": server.url}, received
    finally:
        server.stop()


RECEIVERS: dict[str, Receiver] = {
    "ZmqSink": zmq_receiver,
    "WebHdfsSink": webhdfs_receiver,
    "KafkaSink": kafka_receiver,
    "SQSSink": sqs_receiver,
}
