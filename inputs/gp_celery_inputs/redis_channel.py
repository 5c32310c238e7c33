"""RedisChannel: receive the messages published on Redis pub/sub channels."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import Any, Final

from pydantic import Field, field_validator, model_validator

from gp_celery.framing import DEFAULT_MAX_LINE_BYTES, Framing, Piece, truncate_utf8
from gp_celery.modules.base import Emit, Example, Input
from gp_celery.modules.registry import register
from gp_celery_inputs._redis import RedisSourceOptions, async_client, connection_errors
from gp_celery_inputs._retry import Backoff

BATCH_MESSAGES: Final = 500
"""Messages already received are taken together, up to this many, into one emit."""
WAIT_SECS: Final = 1.0


class RedisChannelOptions(RedisSourceOptions):
    channel: list[str] = []
    """Channel(s) to subscribe to (SUBSCRIBE: names are taken literally)."""
    channel_pattern: list[str] = []
    """Glob pattern(s) of channels to subscribe to (PSUBSCRIBE), e.g. 'logs.*'."""
    max_message_bytes: int = Field(DEFAULT_MAX_LINE_BYTES, ge=1)
    """Longer messages are truncated to this many bytes and tagged (default 1 MiB)."""

    @field_validator("channel", "channel_pattern", mode="before")
    @classmethod
    def _one_name_is_a_list(cls, value: Any) -> Any:
        if value is None or value is False:  # LumberMill's default was False
            return []
        return [value] if isinstance(value, str) else value

    @field_validator("channel", "channel_pattern")
    @classmethod
    def _names_are_not_empty(cls, value: list[str]) -> list[str]:
        if not all(value):
            raise ValueError("a channel name must not be empty")
        return value

    @model_validator(mode="after")
    def _something_to_subscribe(self) -> RedisChannelOptions:
        if not (self.channel or self.channel_pattern):
            raise ValueError("set 'channel' or 'channel_pattern'")
        return self


@register
class RedisChannel(Input[RedisChannelOptions]):
    """Receive messages published on Redis channels; each message is one event.

    ``channel`` subscribes to channels by name, ``channel_pattern`` (LumberMill's option)
    to every channel matching a glob; ``received_from`` is the channel a message came on.
    Messages are data as they are: invalid UTF-8 is replaced and tagged, a message longer
    than ``max_message_bytes`` is truncated and tagged.

    Pub/sub keeps nothing for a subscriber that is away: when Redis goes away, the input
    subscribes again as soon as it can (backoff to 5 s, never giving up), counting
    "reconnects", and the messages published meanwhile are lost, by pub/sub's nature. For
    delivery that survives outages use RedisList. Every subscriber gets every message, so
    run this input in one listener only, or each message is handled once per listener.
    """

    aliases = ("input.RedisChannel",)
    examples = [
        Example(
            options={"channel": "logs"},
            given=[{"data": "<13>Dec  1 10:00:00 host app: hello"}],
            expect=[{"data": "<13>Dec  1 10:00:00 host app: hello"}],
            note="`redis-cli PUBLISH logs '<13>Dec  1 ...'`: each message is one event.",
        ),
    ]

    def default_framing(self) -> Framing:
        return Framing(
            kind="datagram",
            max_record_bytes=self.options.max_message_bytes,
            option="max_message_bytes",
        )

    async def serve(self, emit: Emit) -> None:
        options = self.options
        backoff = Backoff()
        names = ", ".join([*options.channel, *options.channel_pattern])
        while True:
            client = async_client(options)
            pubsub: Any = client.pubsub(ignore_subscribe_messages=True)
            try:
                if options.channel:
                    await pubsub.subscribe(*options.channel)
                if options.channel_pattern:
                    await pubsub.psubscribe(*options.channel_pattern)
                self.log.info("%s: subscribed to %s on %s.", self.label, names, options.where())
                backoff.reset()
                await self._receive(pubsub, emit)
            except connection_errors() as error:
                self.stats.incr("reconnects")
                delay = backoff.next()
                self.warn_limited(
                    "connection",
                    "Redis at %s: %s; subscribing again in %.1fs (%d reconnects so far; "
                    "messages published meanwhile are lost).",
                    options.where(),
                    error,
                    delay,
                    self.stats.counts["reconnects"],
                )
                await asyncio.sleep(delay)
            finally:
                with contextlib.suppress(*connection_errors()):
                    await pubsub.aclose()
                with contextlib.suppress(*connection_errors()):
                    await client.aclose()

    async def _receive(self, pubsub: Any, emit: Emit) -> None:
        while True:
            message = await pubsub.get_message(timeout=WAIT_SECS)
            if message is None:
                continue
            batch = [message]
            while len(batch) < BATCH_MESSAGES:
                message = await pubsub.get_message(timeout=0)
                if message is None:
                    break
                batch.append(message)
            await emit(self._pieces(batch))

    def _pieces(self, messages: list[dict[str, Any]]) -> list[Piece]:
        """One piece per run of messages on the same channel; an overlong message is a
        piece of its own, tagged."""
        limit = self.options.max_message_bytes
        pieces: list[Piece] = []
        for channel, group in itertools.groupby(messages, key=lambda message: message["channel"]):
            name = channel.decode("utf-8", "replace")
            run: list[bytes] = []
            for message in group:
                data = message["data"]
                if len(data) <= limit:
                    run.append(data)
                    continue
                if run:
                    pieces.append(Piece(name, b"".join(run), tuple(map(len, run))))
                    run = []
                kept = truncate_utf8(data, limit)
                note = f"of {len(data)} bytes exceeds max_message_bytes={limit}; truncated"
                pieces.append(Piece(name, kept, (len(kept),), note=note))
            if run:
                pieces.append(Piece(name, b"".join(run), tuple(map(len, run))))
        return pieces
