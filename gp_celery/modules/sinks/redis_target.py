"""What RedisListSink and RedisChannelSink share: connection options, one pipelined round
trip per batch with per-command results, and which Redis errors to retry."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

from pydantic import Field

from gp_celery.event import Event
from gp_celery.modules.base import Failure, Options
from gp_celery.modules.sinks.payloads import ENCODE_ERRORS, describe, event_payloads
from gp_celery.modules.types import Template

if TYPE_CHECKING:
    import redis

RETRIABLE_REPLIES: Final = (
    "OOM",  # maxmemory reached: a consumer may drain the list
    "LOADING",  # the server is loading its data set after a restart
    "READONLY",  # a replica during a failover
    "BUSY",  # a long script is running
    "TRYAGAIN",
    "CLUSTERDOWN",
    "MASTERDOWN",
    "MISCONF",  # it cannot save its snapshot (disk full) and refuses writes until it can
    "NOREPLICAS",
)
"""Error replies that go away by themselves. Everything else (WRONGTYPE: the key holds
another type; NOAUTH/WRONGPASS; a value beyond the server's limits) needs a person."""


class RedisTargetOptions(Options):
    server: str = "localhost"
    """Redis server to connect to."""
    port: int = Field(default=6379, ge=1, le=65535)
    """Port the Redis server listens on."""
    db: int = Field(default=0, ge=0)
    """Redis database number."""
    password: str | None = None
    """Redis password (AUTH); None: none."""
    format: Template | None = None
    """Send this template per event instead of the event as JSON (a missing field renders as '')."""
    max_event_bytes: int = Field(default=16 << 20, ge=1)
    """Events longer than this once encoded fail (not retried); Redis drops the connection
    for a value beyond its proto-max-bulk-len, failing the whole batch."""
    timeout_secs: float = Field(default=10, gt=0)
    """Connect and reply timeout; a batch that times out is retried."""
    store_interval_in_secs: float = Field(default=5, ge=0)
    """Accepted for GambolPutty configs; every batch is sent as it comes."""
    batch_size: int = Field(default=500, ge=1)
    """Accepted for GambolPutty configs; the runner's batches are sent as they come."""
    backlog_size: int = Field(default=500, ge=1)
    """Accepted for GambolPutty configs; backpressure is the listener's job here."""


def is_retriable(error: Exception) -> bool:
    """Can sending again later succeed without anyone changing anything?

    Connection trouble (refused, reset, timeout, a server loading its data) is; failed
    authentication is not, though redis-py derives it from ConnectionError. Error replies
    are judged by their code (see RETRIABLE_REPLIES); redis-py turns the codes it knows
    (OOM, READONLY, TRYAGAIN, ...) into classes and strips them from the message.
    """
    import redis.exceptions as errors

    if isinstance(error, (errors.AuthenticationError, errors.AuthorizationError)):
        return False
    if isinstance(error, (errors.ConnectionError, errors.TimeoutError, OSError)):
        return True
    if isinstance(
        error,
        (
            errors.OutOfMemoryError,
            errors.ReadOnlyError,
            errors.TryAgainError,
            errors.ClusterDownError,
        ),
    ):
        return True
    if isinstance(error, errors.ResponseError):
        code = getattr(error, "status_code", None) or str(error).split(" ", 1)[0]
        return str(code).upper() in RETRIABLE_REPLIES
    return False


def connect(options: RedisTargetOptions) -> redis.Redis:
    """A client that does not retry by itself: the runner retries what failed, with
    backoff, so one batch is never sent twice by two layers at once."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis(
        host=options.server,
        port=options.port,
        db=options.db,
        password=options.password,
        socket_timeout=options.timeout_secs,
        socket_connect_timeout=options.timeout_secs,
        retry=Retry(NoBackoff(), 0),
    )


Queue = Callable[[Any, str, list[bytes]], None]
"""Adds one command to a pipeline: (pipeline, key, payloads)."""


def send_pipelined(
    client: redis.Redis,
    events: Sequence[Event],
    options: RedisTargetOptions,
    key: Template,
    queue: Queue,
    *,
    group: bool,
) -> tuple[list[Failure], list[Any]]:
    """Encode the events, queue commands on a pipeline and run it in one round trip.

    With ``group``, one command per rendered ``key`` takes all its events (in order);
    without, one command per event. Returns the failures and every command's reply. An
    error reply fails the events of its command; a connection error fails every event sent.
    """
    import redis.exceptions

    limit = options.max_event_bytes
    payloads, failures = event_payloads(events, options.format, limit, "max_event_bytes")
    commands: dict[str | int, tuple[str, list[tuple[int, bytes]]]] = {}
    for index, payload in payloads:
        try:
            name = key.render(events[index])
        except ENCODE_ERRORS as error:
            failures.append(Failure(index, f"cannot render '{key.source}': {error}", False))
            continue
        if not name:
            failures.append(Failure(index, f"'{key.source}' renders an empty key", False))
            continue
        commands.setdefault(name if group else index, (name, []))[1].append((index, payload))
    if not commands:
        return failures, []
    pipe = client.pipeline(transaction=False)
    for name, items in commands.values():
        queue(pipe, name, [payload for _, payload in items])
    try:
        replies = pipe.execute(raise_on_error=False)
    except (redis.exceptions.RedisError, OSError) as error:
        reason, retriable = describe(error), is_retriable(error)
        sent = [index for _, items in commands.values() for index, _ in items]
        return failures + [Failure(index, reason, retriable) for index in sent], []
    for (name, items), reply in zip(commands.values(), replies, strict=True):
        if isinstance(reply, Exception):
            reason, retriable = f"{name}: {describe(reply)}", is_retriable(reply)
            failures += [Failure(index, reason, retriable) for index, _ in items]
    return failures, replies
