"""SQS: receive messages from an Amazon SQS queue; delete them only once delivered."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, Final, TypeVar

from pydantic import Field

from gp_celery.framing import DEFAULT_MAX_LINE_BYTES, Framing, Piece, truncate_utf8
from gp_celery.modules.base import Emit, Example, Input
from gp_celery.modules.registry import register
from gp_celery.modules.sqs_queue import CONNECT_TIMEOUT_SECS, SqsQueueOptions, sqs_client
from gp_celery_inputs._retry import Backoff

T = TypeVar("T")

MAX_RECEIVE: Final = 10
"""SQS hands out at most 10 messages per ReceiveMessage, and deletes at most 10 per call."""
MAX_WAIT_SECS: Final = 20
"""The longest long poll SQS allows."""


class SQSOptions(SqsQueueOptions):
    attribute_names: list[str] = ["All"]
    """Accepted for LumberMill configs and unused (see below)."""
    message_attribute_names: list[str] = ["All"]
    """Accepted for LumberMill configs and unused (see below)."""
    poll_interval_in_secs: int = Field(1, ge=0, le=MAX_WAIT_SECS)
    """How long one receive waits for messages (SQS long polling), in seconds."""
    batch_size: int = Field(10, ge=1, le=MAX_RECEIVE)
    """Most messages one receive returns (SQS allows 10)."""
    max_message_bytes: int = Field(DEFAULT_MAX_LINE_BYTES, ge=1)
    """Longer message bodies are truncated to this many bytes and tagged (default 1 MiB)."""


@dataclass(frozen=True)
class _Receipts:
    handles: tuple[str, ...]


@register
class SQS(Input[SQSOptions]):
    """Receive messages from an Amazon SQS queue; each body is one event.

    Long-polls the queue (``poll_interval_in_secs`` per receive, up to ``batch_size``
    messages) and deletes messages only once they are delivered (published to the broker
    by a listener, or through the pipeline in embedded mode). A message received but not
    deleted (the listener was killed, or the pipeline stayed behind longer than the queue's
    visibility timeout) is handed out again by SQS: delivery is at least once.
    ``received_from`` is the queue's name. A body longer than ``max_message_bytes`` is
    truncated and tagged. When the endpoint cannot be reached, or refuses a call, the input
    waits and tries again (backoff to 5 s), counting "connection_errors" or "sqs_errors",
    and never stops; deletions SQS refuses are counted ("delete_errors"), and those
    messages come again.

    ``queue`` is the SQS queue's name, as in LumberMill: on an SQS node it is not the node
    key that names a Celery queue, so an SQS input's chunks go to the default stage (give
    the next node a ``queue`` to run it elsewhere).

    Differences from LumberMill: messages are deleted after delivery, not right after
    they were read (a crash lost them). The event carries the body only: LumberMill's
    ``sqs`` field (message id, attributes) is not added, since a listener ships raw
    records, not events, so
    ``attribute_names`` and ``message_attribute_names`` are unused. ``region`` is any
    region (LumberMill's list is from 2016); ``endpoint_url`` is new. The tests run against
    moto's SQS server, a stand-in for AWS.
    """

    aliases = ("input.SQS",)
    own_node_keys = frozenset({"queue"})
    examples = [
        Example(
            options={
                "aws_access_key_id": "AKIA...",
                "aws_secret_access_key": "...",
                "region": "eu-central-1",
                "queue": "logs",
            },
            given=[{"data": "<13>Dec  1 10:00:00 host app: hello"}],
            expect=[{"data": "<13>Dec  1 10:00:00 host app: hello"}],
            note="A message whose body is a syslog line: one event.",
        ),
    ]

    def __init__(self, options: SQSOptions, node_id: str) -> None:
        super().__init__(options, node_id)
        self._executors: list[ThreadPoolExecutor] = []
        self._client: Any = None
        self._queue_url = ""
        self._backoff = Backoff()

    def default_framing(self) -> Framing:
        return Framing(
            kind="datagram",
            max_record_bytes=self.options.max_message_bytes,
            option="max_message_bytes",
        )

    async def _io(self, call: Callable[[], T], deleting: bool = False) -> T:
        """boto3 blocks: receives run on one thread of this input, deletions on another
        (a deletion must not wait behind a long poll); boto3 clients are thread-safe."""
        if not self._executors:
            self._executors = [
                ThreadPoolExecutor(1, thread_name_prefix=f"sqs-{self.node_id}-{use}")
                for use in ("receive", "delete")
            ]
            read_timeout = self.options.poll_interval_in_secs + CONNECT_TIMEOUT_SECS
            self._client = sqs_client(self.options, read_timeout)
        executor = self._executors[1 if deleting else 0]
        return await asyncio.get_running_loop().run_in_executor(executor, call)

    async def _patiently(self, call: Callable[[], T]) -> T:
        """``call`` until SQS answers it."""
        from botocore.exceptions import BotoCoreError, ClientError

        while True:
            try:
                result = await self._io(call)
            except (BotoCoreError, ClientError) as error:
                kind = "sqs_errors" if isinstance(error, ClientError) else "connection_errors"
                self.stats.incr(kind)
                delay = self._backoff.next()
                self.warn_limited(
                    kind,
                    "SQS queue %r: %s; trying again in %.1fs (%d times so far).",
                    self.options.queue,
                    error,
                    delay,
                    self.stats.counts[kind],
                )
                await asyncio.sleep(delay)
                continue
            self._backoff.reset()
            return result

    async def serve(self, emit: Emit) -> None:
        options = self.options
        response = await self._patiently(
            lambda: self._client.get_queue_url(QueueName=options.queue)
        )
        self._queue_url = response["QueueUrl"]
        self.log.info("%s: receiving from %s.", self.label, self._queue_url)
        while True:
            response = await self._patiently(self._receive)
            messages = response.get("Messages", [])
            if messages:
                handles = tuple(message["ReceiptHandle"] for message in messages)
                await emit(self._pieces(messages), mark=_Receipts(handles))

    def _receive(self) -> Any:
        options = self.options
        return self._client.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=options.batch_size,
            WaitTimeSeconds=options.poll_interval_in_secs,
        )

    def _pieces(self, messages: list[dict[str, Any]]) -> list[Piece]:
        """One piece for the batch; an overlong body is a piece of its own, tagged."""
        name, limit = self.options.queue, self.options.max_message_bytes
        pieces: list[Piece] = []
        run: list[bytes] = []
        for message in messages:
            body = message.get("Body", "").encode("utf-8", "surrogateescape")
            if len(body) <= limit:
                run.append(body)
                continue
            if run:
                pieces.append(Piece(name, b"".join(run), tuple(map(len, run))))
                run = []
            kept = truncate_utf8(body, limit)
            note = f"of {len(body)} bytes exceeds max_message_bytes={limit}; truncated"
            pieces.append(Piece(name, kept, (len(kept),), note=note))
        if run:
            pieces.append(Piece(name, b"".join(run), tuple(map(len, run))))
        return pieces

    async def delivered(self, mark: object) -> None:
        """Delete the delivered messages; what SQS refuses to delete comes again later."""
        from botocore.exceptions import BotoCoreError, ClientError

        if not isinstance(mark, _Receipts):
            return
        handles = mark.handles
        for start in range(0, len(handles), MAX_RECEIVE):
            entries = [
                {"Id": str(number), "ReceiptHandle": handle}
                for number, handle in enumerate(handles[start : start + MAX_RECEIVE])
            ]
            try:
                delete = partial(
                    self._client.delete_message_batch, QueueUrl=self._queue_url, Entries=entries
                )
                response = await self._io(delete, deleting=True)
            except (BotoCoreError, ClientError) as error:
                self._not_deleted(len(entries), str(error))
                continue
            if failed := response.get("Failed"):
                self._not_deleted(len(failed), failed[0].get("Message", "refused"))

    def _not_deleted(self, count: int, reason: str) -> None:
        self.stats.incr("delete_errors", count)
        self.warn_limited(
            "delete",
            "could not delete %d delivered messages from %r (%s); SQS will hand them out "
            "again after their visibility timeout.",
            count,
            self.options.queue,
            reason,
        )

    def close(self) -> None:
        for executor in self._executors:
            executor.shutdown(wait=True)
        self._executors = []
