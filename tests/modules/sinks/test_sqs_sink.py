"""SQSSink against moto's SQS server (ThreadedMotoServer on loopback), a stand-in for AWS
that the official client (boto3) talks to; messages are read back with boto3."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from gp_celery.config import parse_config
from gp_celery.event import errors_of
from gp_celery.modules.sinks.sqs_sink import is_retriable
from gp_celery.testing import BuildError, build, pipeline, run
from tests.conftest import free_port
from tests.stand_ins.sqs import CREDENTIALS, REGION, MotoSqs


@pytest.fixture(scope="module")
def moto_sqs() -> Iterator[MotoSqs]:
    server = MotoSqs()
    server.start()
    yield server
    server.stop()


def sink(server: MotoSqs, queue: str, **options: Any) -> Any:
    settings = {**CREDENTIALS, "region": REGION, "queue": queue, "endpoint_url": server.url}
    return build("SQSSink", {**settings, **options})


def received(server: MotoSqs, url: str, count: int, timeout: float = 10) -> list[str]:
    """Every message body in the queue, once ``count`` have come (deleted as read)."""
    client, bodies = server.client(), []
    deadline = time.monotonic() + timeout
    while len(bodies) < count and time.monotonic() < deadline:
        reply = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in reply.get("Messages", []):
            bodies.append(message["Body"])
            client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    reply = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    return bodies + [message["Body"] for message in reply.get("Messages", [])]


def test_each_event_arrives_as_one_json_message(moto_sqs: MotoSqs) -> None:
    url = moto_sqs.queue("json-events")
    events = [{"data": f"line {n}", "n": n, "nested": {"ü": [1, None]}} for n in range(25)]
    assert run(sink(moto_sqs, "json-events"), events) == []
    got = sorted((orjson.loads(body) for body in received(moto_sqs, url, 25)), key=lambda e: e["n"])
    assert [event["n"] for event in got] == list(range(25))
    assert got[0]["nested"] == {"ü": [1, None]}
    assert "event_id" in got[0]["gambolputty"]


def test_format_renders_the_body_per_event(moto_sqs: MotoSqs) -> None:
    url = moto_sqs.queue("formatted")
    events = [{"host": "web1", "data": "GET / 200"}, {"host": "web2", "data": "GET /x 404"}]
    assert run(sink(moto_sqs, "formatted", format="$(host) $(data)"), events) == []
    assert sorted(received(moto_sqs, url, 2)) == ["web1 GET / 200", "web2 GET /x 404"]


def test_large_messages_go_in_requests_within_the_size_limit(moto_sqs: MotoSqs) -> None:
    """Ten 100 kB messages cannot share one request (256 KiB in all, which AWS enforces and
    moto does not): the requests boto3 sends are watched through botocore's own hooks."""
    url = moto_sqs.queue("large")
    module = sink(moto_sqs, "large", format="$(data)")
    requests: list[list[int]] = []

    def watch(params: dict[str, Any], **_: Any) -> None:
        requests.append([len(entry["MessageBody"].encode()) for entry in params["Entries"]])

    module._client.meta.events.register("provide-client-params.sqs.SendMessageBatch", watch)
    events = [{"data": f"{n:02d}" + "x" * 100_000} for n in range(10)] + [{"data": "small"}] * 12
    assert module.write(events) == []
    assert len(requests) >= 6
    assert all(len(sizes) <= 10 and sum(sizes) <= 262_144 for sizes in requests)
    assert sum(map(len, requests)) == 22
    bodies = received(moto_sqs, url, 22)
    assert sorted(body[:2] for body in bodies if body != "small") == [f"{n:02d}" for n in range(10)]


def test_an_oversize_or_refused_body_fails_alone_and_the_rest_arrive(moto_sqs: MotoSqs) -> None:
    url = moto_sqs.queue("hostile")
    module = sink(moto_sqs, "hostile", format="$(data)", max_message_bytes=1000)
    events = [
        {"data": "first"},
        {"data": "x" * 5000},
        {"data": "nul \x00 inside"},
        {"data": "bytes \udcff kept as they came"},
        {"data": "last"},
    ]
    failures = module.write(events)
    assert [(f.index, f.retriable) for f in failures] == [(1, False), (2, False), (3, False)]
    assert "max_message_bytes" in failures[0].error
    assert "U+0000" in failures[1].error
    assert "invalid UTF-8" in failures[2].error
    assert sorted(received(moto_sqs, url, 2)) == ["first", "last"]


@pytest.mark.parametrize(
    "value",
    [None, 2**70, b"\xff\xfe", "caf\udce9", "nul \x00 and bell \x07", {1, 2}],
    ids=["none", "bigint", "bytes", "surrogate", "control", "set"],
)
def test_hostile_values_are_sent_as_json(moto_sqs: MotoSqs, value: Any) -> None:
    queue = f"hostile-json-{abs(hash(repr(value))) % 10_000}"
    url = moto_sqs.queue(queue)
    assert run(sink(moto_sqs, queue), [{"data": value}]) == []
    [body] = received(moto_sqs, url, 1)
    assert "data" in orjson.loads(body)


def test_a_missing_queue_is_dead_lettered_until_it_exists(moto_sqs: MotoSqs) -> None:
    module = sink(moto_sqs, "created-later")
    failed = run(module, [{"data": "one"}, {"data": "two"}])
    assert [event["data"] for event in failed] == ["one", "two"]
    assert "NonExistentQueue" in errors_of(failed[0])[0]["reason"]
    assert [f.retriable for f in module.write([{"data": "again"}])] == [False]
    url = moto_sqs.queue("created-later")
    assert module.write([{"data": "now it exists"}]) == []
    assert received(moto_sqs, url, 1) == ['{"data":"now it exists"}']


def test_an_endpoint_that_is_down_makes_every_event_a_retriable_failure() -> None:
    settings = {**CREDENTIALS, "region": REGION, "queue": "q"}
    module = build("SQSSink", {**settings, "endpoint_url": f"http://127.0.0.1:{free_port()}"})
    failures = module.write([{"data": str(n)} for n in range(12)])
    assert [f.index for f in failures] == list(range(12))  # nothing lost
    assert all(f.retriable for f in failures)
    assert "SQS" in failures[0].error


def test_without_credentials_anywhere_events_are_dead_lettered_not_retried(
    moto_sqs: MotoSqs, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    moto_sqs.queue("no-credentials")
    module = build(
        "SQSSink", {"region": REGION, "queue": "no-credentials", "endpoint_url": moto_sqs.url}
    )
    failures = module.write([{"data": "one"}, {"data": "two"}])
    assert [(f.index, f.retriable) for f in failures] == [(0, False), (1, False)]
    assert "NoCredentialsError" in failures[0].error


def test_a_fifo_queue_gets_groups_and_drops_a_retry_of_the_same_events(moto_sqs: MotoSqs) -> None:
    client = moto_sqs.client()
    url = client.create_queue(QueueName="ordered.fifo", Attributes={"FifoQueue": "true"})[
        "QueueUrl"
    ]
    module = sink(moto_sqs, "ordered.fifo", format="$(data)", message_group_id="$(host)")
    events = [
        {"host": "web1", "data": f"line {n}", "gambolputty": {"event_id": f"id-{n}"}}
        for n in range(5)
    ]
    assert module.write(events) == []
    assert module.write(events) == []  # a retry after a lost reply: deduplicated by event id
    reply = client.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["MessageGroupId"]
    )
    messages = reply["Messages"]
    assert [message["Body"] for message in messages] == [f"line {n}" for n in range(5)]
    assert {message["Attributes"]["MessageGroupId"] for message in messages} == {"web1"}


@pytest.mark.parametrize(
    ("code", "sender_fault", "retriable"),
    [
        ("ThrottlingException", True, True),
        ("RequestThrottled", True, True),
        ("KmsThrottled", True, True),
        ("InternalError", False, True),
        ("ServiceUnavailable", False, True),
        ("SomethingNew", False, True),
        ("AWS.SimpleQueueService.NonExistentQueue", True, False),
        ("AccessDenied", True, False),
        ("InvalidParameterValue", True, False),
        ("MissingParameter", True, False),
    ],
)
def test_is_retriable_by_code_and_fault(code: str, sender_fault: bool, retriable: bool) -> None:
    assert is_retriable(code, sender_fault) is retriable


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"aws_access_key_id": "only the id"}, "or neither"),
        ({"max_message_bytes": 2_000_000}, "max_message_bytes"),
        ({"queue": ""}, "queue"),
        ({"region": ""}, "region"),
    ],
)
def test_bad_options_are_load_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(BuildError, match=message):
        build("SQSSink", {"region": REGION, "queue": "q", **options})


def test_runs_in_a_pipeline_with_the_lumbermill_name_and_queue_option(moto_sqs: MotoSqs) -> None:
    url = moto_sqs.queue("via-pipeline")
    text = (
        "- output.SQS:\n"
        f"    aws_access_key_id: {CREDENTIALS['aws_access_key_id']}\n"
        f"    aws_secret_access_key: {CREDENTIALS['aws_secret_access_key']}\n"
        f"    region: {REGION}\n    queue: via-pipeline\n    endpoint_url: {moto_sqs.url}\n"
        "    format: $(data)\n    batch_size: 500\n    store_interval_in_secs: 5\n"
    )
    config = parse_config(text, "sqs.yml", {})
    [node] = config.nodes
    assert node.queue is None  # the SQS queue's name, not a Celery queue
    run(pipeline(config), [{"data": "through the pipeline"}])
    assert received(moto_sqs, url, 1) == ["through the pipeline"]
