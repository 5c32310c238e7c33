"""SQSSink: send events to an Amazon SQS queue, ten per request, each failure its own."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

from pydantic import Field

from gp_celery.event import EVENT_ID, META, Batch, Event
from gp_celery.modules.base import Example, Failure, Sink
from gp_celery.modules.registry import register
from gp_celery.modules.sinks.payloads import describe, event_payloads
from gp_celery.modules.sqs_queue import CONNECT_TIMEOUT_SECS, SqsQueueOptions, sqs_client
from gp_celery.modules.types import Template

MAX_ENTRIES: Final = 10
"""SQS takes at most ten messages per SendMessageBatch."""
CLASSIC_MAX_BYTES: Final = 262_144
"""SQS's message (and batch) size limit until 2025, still that of most stand-ins."""
MAX_BYTES: Final = 1_048_576
"""AWS's message (and batch) size limit since August 2025."""
REQUEST_TIMEOUT_SECS: Final = 30

REFUSED_CHARACTER: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""What SQS does not allow in a message body (XML 1.0's characters are allowed)."""

RETRIABLE_CODES: Final = frozenset(
    {
        "ThrottlingException",  # too many requests: slow down and try again
        "RequestThrottled",
        "Throttling",
        "KmsThrottled",  # an encrypted queue's KMS key is rate limited
        "ServiceUnavailable",
        "InternalError",
        "InternalFailure",
        "RequestTimeout",
    }
)
"""Error codes that trying again later can fix, whoever SQS says was at fault."""


def is_retriable(code: str, sender_fault: bool) -> bool:
    """Can sending again later succeed? Throttling and SQS's own faults can; what SQS
    blames on the sender (no such queue, no permission, a message too large, a FIFO queue
    without a group id) needs a person, so the runner dead-letters it."""
    return code in RETRIABLE_CODES or not sender_fault


class SQSSinkOptions(SqsQueueOptions):
    format: Template | None = None
    """Send this rendered template as the body instead of the whole event as JSON."""
    message_group_id: Template | None = None
    """FIFO queues (names ending in .fifo): the group, rendered per event, that SQS keeps
    in order (None: one group, 'gp-celery')."""
    max_message_bytes: int = Field(CLASSIC_MAX_BYTES, ge=1, le=MAX_BYTES)
    """Larger bodies fail alone and go to the dead letters; ten messages per request up to
    this many bytes in all. Raise it to 1048576 for AWS since 2025."""
    store_interval_in_secs: int = Field(5, ge=0)
    """Accepted for GambolPutty configs; no effect (see below)."""
    batch_size: int = Field(500, ge=1)
    """Accepted for GambolPutty configs; no effect (see below)."""
    backlog_size: int = Field(500, ge=0)
    """Accepted for GambolPutty configs; no effect (see below)."""


Entry = tuple[int, dict[str, str], int]
"""The event's index in the batch, its SendMessageBatch entry, and the body's size in bytes."""


@register
class SQSSink(Sink[SQSSinkOptions]):
    """Send each event to an Amazon SQS queue as one message (JSON or a template).

    The body is the whole event as compact JSON (metadata included), or the rendered
    ``format``. A batch goes out ten messages per SendMessageBatch request, each request
    at most ``max_message_bytes`` in all. Every message SQS refuses is a failure of its
    own: throttling and SQS's internal errors are retried by the runner, what SQS blames
    on the sender goes to the dead letters, and an endpoint that cannot be reached retries
    the whole request. A body larger than ``max_message_bytes``, or one holding characters
    SQS refuses (NUL and other control characters, invalid UTF-8 a template let through;
    JSON escapes them) fails alone and is dead-lettered. A queue that does not exist is
    dead-lettered too: create it, then ``gp-celery dlq replay``.

    FIFO queues (``.fifo``): each message's group is ``message_group_id`` and its
    deduplication id the event's id, so a retry after a lost reply is not delivered twice
    within SQS's five-minute window. Elsewhere delivery is at least once.

    Credentials are optional (boto3's own chain: environment, ~/.aws, the instance's
    role). ``queue`` names the SQS queue, as in LumberMill: on an SQSSink node it is not
    the node key that names a Celery queue. ``store_interval_in_secs``, ``batch_size`` and
    ``backlog_size`` are accepted and have no effect, because the runner hands over whole
    batches and backpressure is the listener's job. The tests run against moto's SQS
    server, a stand-in for AWS.
    """

    aliases = ("output.SQS",)
    own_node_keys = frozenset({"queue"})
    examples = [
        Example(
            options={"region": "eu-central-1", "queue": "logs", "format": "$(data)"},
            given=[{"data": "GET / 200"}, {"data": "GET /x 404"}],
            expect=[{"data": "GET / 200"}, {"data": "GET /x 404"}],
            note="Sends 'GET / 200' and 'GET /x 404' to the queue 'logs', in one request.",
        ),
    ]

    def setup(self) -> None:
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            NoCredentialsError,
            ParamValidationError,
            PartialCredentialsError,
        )

        self._client = sqs_client(self.options, REQUEST_TIMEOUT_SECS + CONNECT_TIMEOUT_SECS)
        self._errors: tuple[type[Exception], ...] = (BotoCoreError, ClientError)
        self._client_error = ClientError
        self._final_errors = (NoCredentialsError, PartialCredentialsError, ParamValidationError)
        self._queue_url = ""
        self._fifo = self.options.queue.endswith(".fifo")

    def write(self, events: Batch) -> list[Failure]:
        options = self.options
        payloads, failures = event_payloads(
            events, options.format, options.max_message_bytes, "max_message_bytes"
        )
        entries: list[Entry] = []
        for index, payload in payloads:
            body, refused = _body(payload)
            if refused:
                failures.append(Failure(index, refused, False))
            else:
                entries.append((index, self._entry(events[index], body), len(payload)))
        if entries:
            failures += self._send(entries)
        return sorted(failures, key=lambda failure: failure.index)

    def _entry(self, event: Event, body: str) -> dict[str, str]:
        entry = {"MessageBody": body}
        if self._fifo:
            group = self.options.message_group_id
            entry["MessageGroupId"] = (group.render(event) if group else "") or "gp-celery"
            meta = event.get(META)
            if isinstance(meta, dict) and isinstance(meta.get(EVENT_ID), str):
                entry["MessageDeduplicationId"] = meta[EVENT_ID][:128]
        return entry

    def _send(self, entries: list[Entry]) -> list[Failure]:
        """Send in requests of up to ten messages; the failures of every request."""
        try:
            url = self._url()
        except self._errors as error:
            retriable = self._retriable(error)
            return [Failure(index, _reason(error), retriable) for index, _, _ in entries]
        failures: list[Failure] = []
        for request in _requests(entries, self.options.max_message_bytes):
            failures += self._send_request(url, request)
        if failures:
            self.warn_limited(
                "send",
                "%d of %d messages were not sent to %r (%s).",
                len(failures),
                len(entries),
                self.options.queue,
                failures[0].error,
            )
        return failures

    def _send_request(self, url: str, request: list[Entry]) -> list[Failure]:
        numbered = [{"Id": str(number), **entry} for number, (_, entry, _) in enumerate(request)]
        try:
            reply = self._client.send_message_batch(QueueUrl=url, Entries=numbered)
        except self._errors as error:
            retriable = self._retriable(error)
            return [Failure(index, _reason(error), retriable) for index, _, _ in request]
        return [
            Failure(
                request[int(failed["Id"])][0],
                f"SQS {failed.get('Code', '?')}: {failed.get('Message', 'refused')}",
                is_retriable(failed.get("Code", ""), bool(failed.get("SenderFault"))),
            )
            for failed in reply.get("Failed", [])
        ]

    def _url(self) -> str:
        """The queue's URL, asked for once per process (a missing queue is asked again)."""
        if not self._queue_url:
            reply = self._client.get_queue_url(QueueName=self.options.queue)
            self._queue_url = reply["QueueUrl"]
        return self._queue_url

    def _retriable(self, error: Exception) -> bool:
        """A whole request failed: connection trouble is retried, missing credentials are
        not (a person must add them); SQS's refusals as is_retriable says."""
        if isinstance(error, self._final_errors):
            return False
        if not isinstance(error, self._client_error):
            return True
        detail = error.response.get("Error", {})
        return is_retriable(str(detail.get("Code", "")), detail.get("Type") == "Sender")

    def close(self) -> None:
        self._client.close()


def _body(payload: bytes) -> tuple[str, str]:
    """The message body as text, or why SQS would refuse it."""
    try:
        body = payload.decode("utf-8")
    except UnicodeDecodeError as error:
        return "", f"SQS refuses the message: invalid UTF-8 at byte {error.start}"
    if found := REFUSED_CHARACTER.search(body):
        where = found.start()
        return "", f"SQS refuses the message: character U+{ord(found.group()):04X} at {where}"
    return body, ""


def _requests(entries: list[Entry], max_bytes: int) -> Iterator[list[Entry]]:
    """Entries in requests of up to ten, at most ``max_bytes`` of bodies each."""
    request: list[Entry] = []
    size = 0
    for item in entries:
        body_bytes = item[2]
        if request and (len(request) == MAX_ENTRIES or size + body_bytes > max_bytes):
            yield request
            request, size = [], 0
        request.append(item)
        size += body_bytes
    if request:
        yield request


def _reason(error: Exception) -> str:
    return f"SQS: {describe(error)}"
