"""Kafka: consume topics as a consumer group; offsets are committed once delivered."""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import threading
from typing import Any, Final, Literal

from pydantic import Field, field_validator, model_validator

from gp_celery.event import HOSTNAME
from gp_celery.framing import Framing, Piece, truncate_utf8
from gp_celery.framing.text import overlong_reason
from gp_celery.modules.base import Emit, Example, Input, Options, OptionWarning
from gp_celery.modules.kafka_brokers import KafkaBrokers
from gp_celery.modules.registry import register

BATCH_MESSAGES: Final = 1000
"""Messages taken from the client at once; the next call waits until emit() took them."""
POLL_SECS: Final = 0.2
"""How long one consume() call waits for messages (the thread checks for a stop between)."""
QUEUED_KIB: Final = 16 << 10
"""librdkafka's prefetch queue (queued.max.messages.kbytes): what the client holds ahead."""
RESETS: Final = {"largest": "latest", "smallest": "earliest"}
"""kafka-python's old auto_offset_reset values -> librdkafka's."""

TopicPartition = tuple[str, int]
Mark = dict[TopicPartition, tuple[int, int]]
"""Per partition: (the next offset to read, the assignment it was read in)."""


class KafkaOptions(Options):
    brokers: KafkaBrokers = ("localhost:9092",)
    """Brokers to bootstrap from, 'host:port' each (one string or a list)."""
    topics: tuple[str, ...] = ()
    """Topics to consume (one string or a list; '^regex' subscribes to a pattern)."""
    topic: str | None = None
    """LumberMill's name for one topic; the same as 'topics: [name]'."""
    client_id: str = "kafka.consumer.kafka"
    """The client id the brokers see."""
    group_id: str | None = None
    """Consumer group (the partitions are shared among its members; offsets are stored per
    group). Default: 'gp-celery.<node id>'. 'MY_HOSTNAME' in it is replaced, as in LumberMill."""
    auto_offset_reset: Literal["largest", "smallest", "latest", "earliest"] = "largest"
    """Where a group without a committed offset starts: 'largest'/'latest' (new messages
    only) or 'smallest'/'earliest' (everything the topic still holds)."""
    fetch_message_max_bytes: int = Field(1048576, ge=1)
    """librdkafka fetch.message.max.bytes: bytes per partition asked for at once."""
    fetch_min_bytes: int = Field(1, ge=1)
    """librdkafka fetch.min.bytes: the brokers wait for this many bytes (or fetch_wait_max_ms)."""
    fetch_wait_max_ms: int = Field(100, ge=0)
    """librdkafka fetch.wait.max.ms."""
    refresh_leader_backoff_ms: int = Field(200, ge=1, le=60000)
    """librdkafka topic.metadata.refresh.fast.interval.ms: retry interval to find a lost leader."""
    socket_timeout_ms: int = Field(10000, ge=10, le=300000)
    """librdkafka socket.timeout.ms."""
    auto_commit_enable: bool = False
    """Accepted and ignored: offsets are committed only once the messages are delivered."""
    enable_auto_commit: bool = False
    """LumberMill's name for auto_commit_enable; ignored likewise."""
    auto_commit_interval_ms: int = 60000
    """Accepted and ignored (offsets are committed as deliveries complete)."""
    consumer_timeout_ms: int = -1
    """Accepted and ignored (kafka-python's iterator timeout; the input never stops idle)."""
    messages_to_read: int = Field(0, ge=0)
    """Stop after this many messages (0: never), as LumberMill's option did."""
    max_message_bytes: int = Field(1 << 20, ge=1)
    """Longer message values are truncated to this many bytes and tagged."""
    consumer_settings: dict[str, str | int | float | bool] = Field(default_factory=dict)
    """More librdkafka consumer settings, e.g. {security.protocol: SSL}."""

    @field_validator("topics", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @field_validator("consumer_settings")
    @classmethod
    def _check_settings(cls, settings: dict[str, Any]) -> dict[str, Any]:
        for name in ("bootstrap.servers", "group.id", "enable.auto.commit"):
            if name in settings:
                raise ValueError(f"'{name}' is set by the input's own options")
        return settings

    @model_validator(mode="after")
    def _one_way_to_name_topics(self) -> KafkaOptions:
        if bool(self.topics) == (self.topic is not None):
            raise ValueError("set 'topics' (or LumberMill's 'topic'), exactly one of them")
        return self

    def subscription(self) -> list[str]:
        return list(self.topics) if self.topics else [str(self.topic)]


@register
class Kafka(Input[KafkaOptions]):
    """Consume Kafka topics; each message value is one event's data.

    A consumer group (librdkafka via confluent-kafka, not kafka-python). Offsets are never
    committed automatically: once every message read up to an offset is delivered
    (published to the broker by a listener, or through the pipeline in embedded mode), that
    offset is committed. A stopped or killed listener therefore loses nothing, and its
    group resumes after the last delivered message; what was read but not yet delivered is
    read again (at least once; also after a rebalance moved a partition, or when the
    pipeline held the input back beyond librdkafka's max.poll.interval.ms, 5 minutes, and
    the group moved on without it). Listeners on many hosts with one group share the
    partitions.

    ``received_from`` is the topic (LumberMill put it in a ``topic`` field). Keys and headers
    are not used. A value that is not UTF-8 is replaced and tagged; one longer than
    ``max_message_bytes`` is truncated and tagged; an empty value is an empty event; a null
    value (a tombstone) makes no event and is counted ("tombstones"). Old kafka-python
    options are mapped to librdkafka's or, where the model differs, accepted and ignored
    (see each option). State: the group's offsets, in Kafka.
    """

    aliases = ("input.Kafka",)
    examples = [
        Example(
            options={"brokers": ["localhost:9092"], "topics": ["logs"], "group_id": "gp"},
            given=[{"data": "GET / 200"}, {"data": "GET /missing 404"}],
            expect=[{"data": "GET / 200"}, {"data": "GET /missing 404"}],
            note="Two messages in the topic 'logs': two events, values as they are.",
        ),
    ]

    def __init__(self, options: KafkaOptions, node_id: str) -> None:
        super().__init__(options, node_id)
        self._consumer: Any = None
        self._thread = concurrent.futures.ThreadPoolExecutor(1, f"{node_id} consumer")
        self._assigned: dict[TopicPartition, int] = {}
        """Partitions assigned now -> the assignment's number (only the consumer thread
        and close() touch it): a mark read in an earlier assignment is not committed."""
        self._assignments = itertools.count(1)
        self._delivered: Mark = {}
        """Delivered and not yet committed; merged by the loop, committed by the thread."""
        self._lock = threading.Lock()

    @classmethod
    def option_warnings(cls, options: KafkaOptions) -> list[OptionWarning]:
        if options.auto_commit_enable or options.enable_auto_commit:
            name = "auto_commit_enable" if options.auto_commit_enable else "enable_auto_commit"
            reason = "ignored: offsets are committed once the messages are delivered"
            return [OptionWarning((name,), reason)]
        return []

    def default_framing(self) -> Framing:
        return Framing(
            kind="datagram",
            max_record_bytes=self.options.max_message_bytes,
            option="max_message_bytes",
        )

    def group(self) -> str:
        group = self.options.group_id or f"gp-celery.{self.node_id}"
        return group.replace("MY_HOSTNAME", HOSTNAME)

    def _settings(self) -> dict[str, Any]:
        options = self.options
        return {
            "client.id": options.client_id,
            "logger": self.log,
            "error_cb": self._client_error,
            "on_commit": self._committed,
            "auto.offset.reset": RESETS.get(options.auto_offset_reset, options.auto_offset_reset),
            "fetch.message.max.bytes": options.fetch_message_max_bytes,
            "fetch.min.bytes": options.fetch_min_bytes,
            "fetch.wait.max.ms": options.fetch_wait_max_ms,
            "topic.metadata.refresh.fast.interval.ms": options.refresh_leader_backoff_ms,
            "socket.timeout.ms": options.socket_timeout_ms,
            "queued.max.messages.kbytes": QUEUED_KIB,
            **options.consumer_settings,
            "bootstrap.servers": ",".join(options.brokers),
            "group.id": self.group(),
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
        }

    async def serve(self, emit: Emit) -> None:
        from confluent_kafka import Consumer

        loop = asyncio.get_running_loop()
        self._consumer = consumer = await loop.run_in_executor(
            self._thread, Consumer, self._settings()
        )
        topics = self.options.subscription()
        consumer.subscribe(topics, on_assign=self._assign, on_revoke=self._revoke)
        self.log.info(
            "%s: subscribed to %s on %s as group '%s'.",
            self.label,
            ", ".join(topics),
            ",".join(self.options.brokers),
            self.group(),
        )
        limit = self.options.messages_to_read
        read = 0
        while not limit or read < limit:
            wanted = min(BATCH_MESSAGES, limit - read) if limit else BATCH_MESSAGES
            job = self._thread.submit(self._consume, wanted)
            try:
                messages = await asyncio.wrap_future(job)
            finally:
                while not job.done():  # cancelled: let the call in the thread end first
                    await asyncio.sleep(POLL_SECS / 4)
            if messages:
                read += len(messages)
                pieces, mark = self._pieces(messages)
                await emit(pieces, mark=mark)
        self.log.info("%s: read %d messages; done.", self.label, read)

    def _consume(self, wanted: int) -> list[Any]:
        """In the consumer thread: commit what was delivered, then read what is there."""
        consumer = self._consumer
        self._commit(consumer, asynchronous=True)
        messages = []
        for message in consumer.consume(wanted, POLL_SECS):
            error = message.error()
            if error is None:
                messages.append(message)
            elif error.fatal():
                from confluent_kafka import KafkaException

                raise KafkaException(error)
            else:
                self.warn_limited("consume", "Kafka %s: %s.", error.name(), error.str())
        return messages

    def _pieces(self, messages: list[Any]) -> tuple[list[Piece], Mark]:
        """One piece per run of messages from a topic; an oversize value is a piece of its own."""
        limit = self.options.max_message_bytes
        pieces: list[Piece] = []
        mark: Mark = {}
        run: list[bytes] = []
        topic = ""
        for message in messages:
            where = (message.topic(), message.partition())
            mark[where] = (message.offset() + 1, self._assigned.get(where, 0))
            value = message.value()
            if value is None:
                self.stats.incr("tombstones")
                continue
            if where[0] != topic or len(value) > limit:
                if run:
                    pieces.append(Piece(topic, b"".join(run), tuple(map(len, run))))
                run, topic = [], where[0]
            if len(value) > limit:
                head = truncate_utf8(value, limit)
                reason = overlong_reason(len(value), limit, "", "max_message_bytes")
                pieces.append(Piece(topic, head, (len(head),), 0, reason.lstrip()))
            else:
                run.append(value)
        if run:
            pieces.append(Piece(topic, b"".join(run), tuple(map(len, run))))
        return pieces, mark

    async def delivered(self, mark: object) -> None:
        assert isinstance(mark, dict)
        with self._lock:
            self._delivered.update(mark)

    def _commit(self, consumer: Any, asynchronous: bool) -> None:
        """Commit the delivered offsets of partitions still assigned as when they were read."""
        from confluent_kafka import KafkaException, TopicPartition

        with self._lock:
            delivered, self._delivered = self._delivered, {}
        offsets = [
            TopicPartition(topic, partition, offset)
            for (topic, partition), (offset, assignment) in delivered.items()
            if self._assigned.get((topic, partition)) == assignment
        ]
        if not offsets:
            return
        try:
            consumer.commit(offsets=offsets, asynchronous=asynchronous)
        except KafkaException as error:
            self.warn_limited("commit", "cannot commit offsets (%s); they are read again.", error)

    def _assign(self, _consumer: Any, partitions: list[Any]) -> None:
        number = next(self._assignments)
        for partition in partitions:
            self._assigned[(partition.topic, partition.partition)] = number
        self.log.info("%s: assigned %d partitions.", self.label, len(partitions))

    def _revoke(self, consumer: Any, partitions: list[Any]) -> None:
        # What is delivered so far; the new owner reads the rest again.
        self._commit(consumer, asynchronous=False)
        for partition in partitions:
            self._assigned.pop((partition.topic, partition.partition), None)

    def _client_error(self, error: Any) -> None:
        self.warn_limited("client", "Kafka %s: %s.", error.name(), error.str())

    def _committed(self, error: Any, _partitions: list[Any]) -> None:
        if error is not None:
            self.warn_limited("commit", "committing offsets failed (%s).", error.str())

    def close(self) -> None:
        """Commit what the last flush delivered, leave the group, stop the thread."""
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            self._thread.submit(self._close, consumer).result()
        self._thread.shutdown(wait=True)

    def _close(self, consumer: Any) -> None:
        try:
            self._commit(consumer, asynchronous=False)
        finally:
            consumer.close()
