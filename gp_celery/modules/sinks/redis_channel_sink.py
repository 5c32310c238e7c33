"""RedisChannelSink: PUBLISH events to Redis channels, one pipelined round trip per batch."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from gp_celery.event import Batch
from gp_celery.modules.base import Example, Failure, Options, Sink
from gp_celery.modules.registry import register
from gp_celery.modules.sinks.redis_target import RedisTargetOptions, connect, send_pipelined
from gp_celery.modules.types import Template


class _ChannelName(Options):
    channel: Template
    """Channel to publish to, e.g. 'events' or 'events-$(host)' (rendered per event)."""


class RedisChannelSinkOptions(RedisTargetOptions, _ChannelName):
    """The channel first (pydantic orders fields from the last base), then the rest."""

    backlog_size: int = Field(default=5000, ge=1)  # GambolPutty's default for this sink
    """Accepted for GambolPutty configs; backpressure is the listener's job here."""


def _publish(pipe: Any, channel: str, payloads: list[bytes]) -> None:
    (payload,) = payloads  # one PUBLISH per event
    pipe.publish(channel, payload)


@register
class RedisChannelSink(Sink[RedisChannelSinkOptions]):
    """Publish events to Redis channels as JSON or a template, a batch per round trip.

    Each event is its JSON (metadata included), or the rendered ``format``, published to
    the rendered ``channel`` with one PUBLISH per event, all in one pipelined round trip.
    Publishing is fire and forget, as in Redis: an event nobody was subscribed to is
    written, and counted as ``unheard``. Lost connections are retried by the runner; an
    event that cannot be encoded, or is longer than ``max_event_bytes``, fails alone (not
    retried). Delivery is at least once: a retry after a connection broke mid-batch may
    publish some events twice.

    ``store_interval_in_secs``, ``batch_size`` and ``backlog_size`` are accepted and have
    no effect: the runner hands over whole batches (GambolPutty published event by event).
    """

    aliases = ("output.RedisChannel",)
    examples = [
        Example(
            options={"channel": "events-$(host)", "server": "localhost"},
            given=[{"host": "web1", "data": "GET / 200"}],
            expect=[{"host": "web1", "data": "GET / 200"}],
            note="Publishes the event, as JSON, to the channel 'events-web1'.",
        ),
    ]

    def setup(self) -> None:
        self._redis = connect(self.options)

    def write(self, events: Batch) -> list[Failure]:
        failures, replies = send_pipelined(
            self._redis, events, self.options, self.options.channel, _publish, group=False
        )
        if unheard := sum(1 for reply in replies if reply == 0):
            self.stats.incr("unheard", unheard)
        return failures

    def close(self) -> None:
        self._redis.close()
