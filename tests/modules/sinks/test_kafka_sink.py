"""KafkaSink against librdkafka's mock cluster (real Kafka protocol over loopback TCP):
JSON or text per event, topic and key per event, delivery reports as per-item failures,
retriable or not by their Kafka error code, nothing lost."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from confluent_kafka import KafkaError

from gp_celery.config import parse_config
from gp_celery.event import errors_of
from gp_celery.modules.sinks.kafka_sink import is_retriable
from gp_celery.testing import BuildError, build, pipeline, run
from tests.conftest import free_port
from tests.modules.kafka_cluster import MockCluster, mock_cluster


@pytest.fixture(scope="module")
def cluster() -> Iterator[MockCluster]:
    with mock_cluster() as running:
        yield running


def sink(cluster: MockCluster, topic: str, **options: Any) -> Any:
    return build("KafkaSink", {"topic": topic, "brokers": [cluster.bootstrap], **options})


def test_each_event_arrives_as_one_json_message(cluster: MockCluster) -> None:
    events = [{"data": f"line {i}", "n": i, "nested": {"ü": [1, None]}} for i in range(200)]
    module = sink(cluster, "json-events")
    assert run(module, events) == []
    messages = cluster.consume(200, ["json-events"])
    got = sorted((orjson.loads(value) for _, _, value in messages), key=lambda e: e["n"])
    assert [event["n"] for event in got] == list(range(200))
    assert got[0]["nested"] == {"ü": [1, None]}
    assert "event_id" in got[0]["gambolputty"]


def test_topic_and_key_are_rendered_per_event(cluster: MockCluster) -> None:
    module = sink(cluster, "per-host-$(host)", key="$(user)", format="$(data)")
    events = [
        {"host": "a", "user": "u1", "data": "one"},
        {"host": "b", "user": "u2", "data": "two"},
    ]
    assert run(module, events) == []
    messages = cluster.consume(2, ["per-host-a", "per-host-b"])
    assert sorted(messages) == [("per-host-a", b"u1", b"one"), ("per-host-b", b"u2", b"two")]


def test_an_event_whose_topic_renders_empty_fails_alone(cluster: MockCluster) -> None:
    module = sink(cluster, "$(topic)", format="$(data)")
    failed = run(module, [{"topic": "named", "data": "kept"}, {"data": "no topic"}])
    assert [event["data"] for event in failed] == ["no topic"]
    assert "topic" in errors_of(failed[0])[0]["reason"]
    assert cluster.consume(1, ["named"]) == [("named", None, b"kept")]


def test_a_message_too_large_is_dead_lettered_and_the_rest_delivered(cluster: MockCluster) -> None:
    module = sink(
        cluster, "size-limit", format="$(data)", producer_settings={"message.max.bytes": 1000}
    )
    failures = module.write([{"data": "small"}, {"data": "x" * 5000}, {"data": "small too"}])
    assert [(f.index, f.retriable) for f in failures] == [(1, False)]
    assert "MSG_SIZE_TOO_LARGE" in failures[0].error
    values = [value for _, _, value in cluster.consume(2, ["size-limit"])]
    assert sorted(values) == [b"small", b"small too"]


def test_unreachable_brokers_make_every_event_a_retriable_failure() -> None:
    module = build(
        "KafkaSink",
        {"topic": "t", "brokers": [f"127.0.0.1:{free_port()}"], "flush_timeout_secs": 1},
    )
    events = [{"data": str(i)} for i in range(20)]
    failures = module.write(events)
    assert [f.index for f in failures] == list(range(20))  # nothing lost
    assert all(f.retriable for f in failures)
    assert "Kafka" in failures[0].error


def test_unencodable_event_fails_alone(cluster: MockCluster) -> None:
    loop: dict[str, Any] = {"data": "loop"}
    loop["self"] = loop
    failures = sink(cluster, "encode").write([{"data": "ok"}, loop])
    assert [(f.index, f.retriable) for f in failures] == [(1, False)]


@pytest.mark.parametrize(
    "value",
    [None, 0, 2**70, ["a", 1], b"\xff\xfe", "caf\udce9", {1, 2}, "x" * 500_000],
    ids=["none", "int", "bigint", "list", "bytes", "surrogate", "set", "oversize"],
)
def test_hostile_values_are_sent_as_json(cluster: MockCluster, value: Any) -> None:
    topic = f"hostile-{type(value).__name__}-{len(str(value)) % 1000}"
    assert run(sink(cluster, topic), [{"data": value}]) == []
    [(_, _, message)] = cluster.consume(1, [topic])
    assert "data" in orjson.loads(message)


@pytest.mark.parametrize(
    ("code", "retriable"),
    [
        (KafkaError._MSG_TIMED_OUT, True),
        (KafkaError._TRANSPORT, True),
        (KafkaError._ALL_BROKERS_DOWN, True),
        (KafkaError._QUEUE_FULL, True),
        (KafkaError._PURGE_QUEUE, True),
        (KafkaError.REQUEST_TIMED_OUT, True),
        (KafkaError.NOT_LEADER_FOR_PARTITION, True),
        (KafkaError.LEADER_NOT_AVAILABLE, True),
        (KafkaError.NOT_ENOUGH_REPLICAS, True),
        (KafkaError.MSG_SIZE_TOO_LARGE, False),
        (KafkaError.INVALID_MSG, False),
        (KafkaError._UNKNOWN_TOPIC, False),
        (KafkaError.UNKNOWN_TOPIC_OR_PART, False),
        (KafkaError.TOPIC_AUTHORIZATION_FAILED, False),
        (KafkaError._INVALID_ARG, False),
    ],
)
def test_is_retriable_by_kafka_error_code(code: int, retriable: bool) -> None:
    assert is_retriable(KafkaError(code)) is retriable


def test_unlisted_codes_follow_librdkafkas_retriable_flag() -> None:
    assert is_retriable(KafkaError(KafkaError._UNKNOWN_PARTITION, retriable=True))
    assert not is_retriable(KafkaError(KafkaError._UNKNOWN_PARTITION, retriable=False))


def test_fatal_errors_are_never_retriable() -> None:
    assert not is_retriable(KafkaError(KafkaError._MSG_TIMED_OUT, fatal=True))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "topic"),
        ({"topic": "t", "brokers": []}, "at least one broker"),
        ({"topic": "t", "brokers": ["nohost"]}, "host:port"),
        ({"topic": "t", "producer_settings": {"bootstrap.servers": "x:1"}}, "brokers"),
        ({"topic": "t", "flush_timeout_secs": 0}, "flush_timeout_secs"),
        ({"topic": "$(x"}, "topic"),
    ],
)
def test_bad_options_are_load_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(BuildError, match=message):
        build("KafkaSink", options)


def test_one_broker_may_be_given_as_a_string(cluster: MockCluster) -> None:
    module = build("KafkaSink", {"topic": "string-broker", "brokers": cluster.bootstrap})
    assert module.options.brokers == (cluster.bootstrap,)
    assert run(module, [{"data": "x"}]) == []


def test_runs_in_a_pipeline_with_the_lumbermill_name(cluster: MockCluster) -> None:
    config = (
        f"- output.Kafka:\n    topic: via-pipeline\n    brokers: ['{cluster.bootstrap}']\n"
        "    format: $(data)\n"
    )
    run(pipeline(parse_config(config)), [{"data": "through the pipeline"}])
    assert cluster.consume(1, ["via-pipeline"]) == [("via-pipeline", None, b"through the pipeline")]
