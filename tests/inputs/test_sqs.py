"""SQS against moto's SQS server (ThreadedMotoServer on loopback), a stand-in for AWS that
the official client (boto3) talks to; run by the real InputRunner, so messages are deleted
only when their chunk is delivered."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from gp_celery.config import parse_config
from gp_celery.event import META, RECEIVED_FROM
from gp_celery.testing import build
from tests.conftest import wait_for
from tests.inputs.conftest import errors
from tests.inputs.delivering import Running
from tests.stand_ins.sqs import CREDENTIALS, REGION, MotoSqs


@pytest.fixture
def moto_sqs() -> Iterator[MotoSqs]:
    server = MotoSqs()
    server.start()
    yield server
    server.stop()


def receive(server: MotoSqs, gate: threading.Event | None = None, **options: Any) -> Running:
    settings = {**CREDENTIALS, "region": REGION, "queue": "logs", "endpoint_url": server.url}
    return Running(build("SQS", {**settings, **options}, node_id="sqs"), gate)


def test_messages_sent_with_boto3_are_events_deleted_once_delivered(moto_sqs: MotoSqs) -> None:
    url = moto_sqs.queue()
    running = receive(moto_sqs)
    moto_sqs.send(url, *(f"message {n}" for n in range(25)), "caf\u00e9 \u2603")
    data = running.wait_for(26)
    wait_for(lambda: moto_sqs.waiting(url) == (0, 0), 10, "every message to be deleted")
    running.stop()
    assert sorted(data) == sorted([*(f"message {n}" for n in range(25)), "caf\u00e9 \u2603"])
    assert {event[META][RECEIVED_FROM] for event in running.events} == {"logs"}


def test_messages_received_but_not_delivered_come_again_after_a_crash(
    moto_sqs: MotoSqs,
) -> None:
    url = moto_sqs.queue(visibility_secs=1)
    gate = threading.Event()  # clear: deliveries hang, nothing is deleted
    first = receive(moto_sqs, gate=gate)
    moto_sqs.send(url, *(f"in flight {n}" for n in range(5)))
    wait_for(lambda: moto_sqs.waiting(url) == (0, 5), 10, "the messages to be received")
    first.crash()
    second = receive(moto_sqs)
    data = second.wait_for(5)
    wait_for(lambda: moto_sqs.waiting(url) == (0, 0), 10, "every message to be deleted")
    second.stop()
    assert sorted(data) == [f"in flight {n}" for n in range(5)]


def test_an_oversize_body_is_truncated_and_tagged(moto_sqs: MotoSqs) -> None:
    url = moto_sqs.queue()
    running = receive(moto_sqs, max_message_bytes=100)
    moto_sqs.send(url, "z" * 500)
    running.wait_for(1)
    moto_sqs.send(url, "next")
    assert running.wait_for(2) == ["z" * 100, "next"]
    running.stop()
    assert errors(running.events[0]) == [
        "datagram of 500 bytes exceeds max_message_bytes=100; truncated"
    ]


def test_an_endpoint_that_is_down_or_lacks_the_queue_is_retried_until_it_answers() -> None:
    server = MotoSqs()  # not started yet
    running = receive(server)
    counts = running.module.stats.counts
    wait_for(lambda: counts["connection_errors"] >= 1, 10, "a connection error")
    server.start()
    try:
        wait_for(lambda: counts["sqs_errors"] >= 1, 10, "NonExistentQueue")
        url = server.queue()
        server.send(url, "finally")
        assert running.wait_for(1) == ["finally"]
        running.stop()
    finally:
        server.stop()


def test_lumbermills_queue_option_names_the_sqs_queue_not_a_celery_queue() -> None:
    text = (
        "- SQS:\n    aws_access_key_id: a\n    aws_secret_access_key: b\n"
        "    region: eu-west-1\n    queue: logs\n- DevNullSink\n"
    )
    config = parse_config(text, "sqs.yml", {})
    [sqs] = [spec for spec in config.nodes if spec.type_name == "SQS"]
    assert sqs.options is not None
    assert sqs.options.queue == "logs"  # type: ignore[attr-defined]
    assert sqs.queue is None
    assert config.queue_of(sqs.id) == "gp-celery"
