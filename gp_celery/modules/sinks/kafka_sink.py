"""KafkaSink: publish events to Kafka topics, one message per event, acknowledged per batch."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Final

from pydantic import Field, field_validator

from gp_celery.event import Batch, Event
from gp_celery.modules.base import Example, Failure, Options, Sink
from gp_celery.modules.kafka_brokers import KafkaBrokers
from gp_celery.modules.registry import register
from gp_celery.modules.sinks.encoding import encode_text, json_line
from gp_celery.modules.types import Template

RETRIABLE_NAMES: Final = (
    "_MSG_TIMED_OUT",  # not acknowledged in time: brokers down, slow or unreachable
    "_TIMED_OUT",
    "_TRANSPORT",  # connection lost
    "_ALL_BROKERS_DOWN",
    "_QUEUE_FULL",  # the local queue: room is made as messages leave
    "_PURGE_QUEUE",  # taken back by this sink after flush_timeout_secs, never sent
    "_PURGE_INFLIGHT",
    "REQUEST_TIMED_OUT",
    "NETWORK_EXCEPTION",
    "NOT_LEADER_FOR_PARTITION",  # a leader election is under way
    "LEADER_NOT_AVAILABLE",
    "BROKER_NOT_AVAILABLE",
    "NOT_ENOUGH_REPLICAS",  # acks=all and replicas are catching up
    "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
    "KAFKA_STORAGE_ERROR",  # a broker's disk: it moves the partition or recovers
    "THROTTLING_QUOTA_EXCEEDED",
)
"""Kafka error codes that trying again later can fix."""

FINAL_NAMES: Final = (
    "MSG_SIZE_TOO_LARGE",  # the event is bigger than message.max.bytes: always will be
    "INVALID_MSG",  # e.g. a compacted topic and no key
    "INVALID_RECORD",
    "RECORD_LIST_TOO_LARGE",
    "_UNKNOWN_TOPIC",  # the topic does not exist and is not created automatically
    "UNKNOWN_TOPIC_OR_PART",
    "TOPIC_EXCEPTION",  # an invalid topic name
    "TOPIC_AUTHORIZATION_FAILED",
    "CLUSTER_AUTHORIZATION_FAILED",
    "POLICY_VIOLATION",
    "_INVALID_ARG",
)
"""Kafka error codes that need a person (a bigger limit, a topic, a permission): the
runner dead-letters the events, and ``gp-celery dlq replay`` sends them once it is fixed.
A code in neither list follows librdkafka's own ``retriable()`` flag."""


@functools.cache
def _codes() -> tuple[frozenset[int], frozenset[int]]:
    from confluent_kafka import KafkaError

    def codes(names: tuple[str, ...]) -> frozenset[int]:
        return frozenset(getattr(KafkaError, name) for name in names if hasattr(KafkaError, name))

    return codes(RETRIABLE_NAMES), codes(FINAL_NAMES)


def is_retriable(error: Any) -> bool:
    """Can producing a message again later succeed, after this ``KafkaError``?"""
    if error.fatal():
        return False  # the producer instance is unusable; a person must look
    retriable, final = _codes()
    code = error.code()
    if code in final:
        return False
    return code in retriable or bool(error.retriable())


def describe(error: Any) -> str:
    """A KafkaError as a sentence for logs and dead letters: its name and its text."""
    return f"Kafka {error.name()}: {error.str()}"


class KafkaSinkOptions(Options):
    topic: Template
    """Topic to publish to; $(field) picks it per event."""
    brokers: KafkaBrokers = ("localhost:9092",)
    """Brokers to bootstrap from, 'host:port' each (one string or a list)."""
    key: Template | None = None
    """Message key per event (compacted topics, partitioning); None: no key."""
    format: Template | None = None
    """Send this rendered template as UTF-8 text instead of the whole event as JSON."""
    flush_timeout_secs: float = Field(default=30, gt=0)
    """How long a batch may wait for the brokers' acknowledgements; what is not
    acknowledged by then is taken back and retried by the runner."""
    producer_settings: dict[str, str | int | float | bool] = Field(default_factory=dict)
    """More librdkafka settings, e.g. {acks: all, compression.type: zstd,
    security.protocol: SSL}; 'bootstrap.servers' comes from 'brokers'."""

    @field_validator("producer_settings")
    @classmethod
    def _check_settings(cls, settings: dict[str, Any]) -> dict[str, Any]:
        for name in ("bootstrap.servers", "metadata.broker.list"):
            if name in settings:
                raise ValueError(f"set the brokers with 'brokers', not '{name}'")
        return settings


def _record(reports: dict[int, Any], index: int, error: Any, _message: Any) -> None:
    reports[index] = error


@register
class KafkaSink(Sink[KafkaSinkOptions]):
    """Publish each event to a Kafka topic (JSON or a template), acked per batch.

    LumberMill's Kafka output, on the official librdkafka client (confluent-kafka) instead
    of kafka-python. ``topic`` and ``key`` are templates rendered per event (a missing
    field renders as ''; an empty topic fails the event). The message is the whole event as
    compact JSON (metadata included), or the rendered ``format`` as UTF-8.

    A batch is handed to the producer at once, then ``write`` waits up to
    ``flush_timeout_secs`` for every delivery report: each event whose message the brokers
    did not acknowledge is a failure of its own. Brokers down, leader elections, timeouts
    and the like are retried by the runner (messages still queued locally are taken back
    first, so a retry does not send them twice); a message too large, an unknown topic or a
    missing permission goes to the dead letters. A message that was in flight when the wait
    ended may still arrive and be sent again by the retry: delivery is at least once (set
    ``producer_settings: {enable.idempotence: true}`` against duplicates from the client's
    own retries). LumberMill logged failures and dropped the events.
    """

    aliases = ("output.Kafka",)
    examples = [
        Example(
            options={
                "topic": "logs-$(host)",
                "key": "$(host)",
                "brokers": ["localhost:9092"],
                "format": "$(data)",
            },
            given=[{"host": "web1", "data": "GET / 200"}, {"host": "web1", "data": "GET /x 404"}],
            expect=[{"data": "GET / 200"}, {"data": "GET /x 404"}],
            note="Publishes 'GET / 200' and 'GET /x 404' to the topic logs-web1, keyed by "
            "host: one partition, so in this order.",
        ),
    ]

    def setup(self) -> None:
        from confluent_kafka import KafkaException, Producer

        options = self.options
        settings: dict[str, Any] = {
            "client.id": "gp-celery",
            "logger": self.log,  # librdkafka's own messages (brokers down, ...) as ours
            "message.timeout.ms": int(options.flush_timeout_secs * 1000),
            **options.producer_settings,
            "bootstrap.servers": ",".join(options.brokers),
        }
        self._kafka_exception: type[Exception] = KafkaException
        self._producer = Producer(settings)
        self._topic = options.topic.render
        self._key: Callable[[Event], bytes] | None = None
        if options.key is not None:
            render_key = options.key.render
            self._key = lambda event: encode_text(render_key(event))
        self._value: Callable[[Event], bytes] = json_line
        if options.format is not None:
            render = options.format.render
            self._value = lambda event: encode_text(render(event))

    def write(self, events: Batch) -> list[Failure]:
        reports: dict[int, Any] = {}
        failures, sent = [], []
        for index, event in enumerate(events):
            try:
                value = self._value(event)
            except (TypeError, ValueError, RecursionError) as error:
                failures.append(Failure(index, f"cannot encode the event as JSON: {error}", False))
                continue
            topic = self._topic(event)
            if not topic:
                failures.append(Failure(index, "topic: renders empty (a field is missing)", False))
                continue
            key = self._key(event) if self._key is not None else None
            callback = functools.partial(_record, reports, index)
            if failure := self._produce(index, topic, value, key, callback):
                failures.append(failure)
            else:
                sent.append(index)
        if sent:
            failures += self._delivered(sent, reports)
        return sorted(failures, key=lambda failure: failure.index)

    def _produce(
        self, index: int, topic: str, value: bytes, key: bytes | None, callback: Any
    ) -> Failure | None:
        """Queue one message; a failure when the producer refuses it at once."""
        for attempt in range(2):
            try:
                self._producer.produce(topic, value, key, on_delivery=callback)
            except BufferError:  # the local queue is full: wait for room once
                if attempt:
                    return Failure(index, "Kafka: the producer's local queue is full", True)
                self._producer.flush(self.options.flush_timeout_secs)
            except self._kafka_exception as error:
                kafka_error = error.args[0]
                return Failure(index, describe(kafka_error), is_retriable(kafka_error))
            else:
                return None
        return None  # pragma: no cover - the loop returns

    def _delivered(self, sent: list[int], reports: dict[int, Any]) -> list[Failure]:
        """Wait for the delivery reports of ``sent``; their failures."""
        producer = self._producer
        if producer.flush(self.options.flush_timeout_secs):
            # Take back what never left, so a retry does not send it twice; their reports
            # come now (_PURGE_QUEUE). Messages in flight stay: their fate is unknown.
            producer.purge(in_queue=True, in_flight=False)
            producer.poll(0)
        failures = []
        for index in sent:
            error = reports.get(index, _NO_REPORT)
            if error is _NO_REPORT:
                reason = f"Kafka: not acknowledged within {self.options.flush_timeout_secs}s"
                failures.append(Failure(index, reason, True))
            elif error is not None:
                failures.append(Failure(index, describe(error), is_retriable(error)))
        if failures:
            self.warn_limited(
                "deliver",
                "%d of %d messages were not delivered (%s).",
                len(failures),
                len(sent),
                failures[0].error,
            )
        return failures

    def close(self) -> None:
        remaining = self._producer.flush(self.options.flush_timeout_secs)
        if remaining:
            self.log.warning(
                "%s: %d messages were still undelivered at close.", self.label, remaining
            )


_NO_REPORT: Final = object()
