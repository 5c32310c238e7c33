"""RedisListSink: RPUSH events onto Redis lists, one pipelined round trip per batch."""

from __future__ import annotations

from typing import Any

from gp_celery.event import Batch
from gp_celery.modules.base import Example, Failure, Options, Sink
from gp_celery.modules.registry import register
from gp_celery.modules.sinks.redis_target import RedisTargetOptions, connect, send_pipelined
from gp_celery.modules.types import Template


class _ListName(Options):
    list: Template
    """List to push onto, e.g. 'logs' or 'logs-$(host)' (rendered per event)."""


class RedisListSinkOptions(RedisTargetOptions, _ListName):
    """The list name first (pydantic orders fields from the last base), then the rest."""


def _rpush(pipe: Any, key: str, payloads: list[bytes]) -> None:
    pipe.rpush(key, *payloads)


@register
class RedisListSink(Sink[RedisListSinkOptions]):
    """Push events onto Redis lists (RPUSH) as JSON or a template, a batch per round trip.

    Each event is its JSON (metadata included), or the rendered ``format``. A batch is
    grouped by the rendered ``list`` name, keeping its order, and sent as one RPUSH per list
    in one pipelined round trip. A list whose RPUSH fails (WRONGTYPE: the key holds
    something else) fails its events alone; an OOM, LOADING or READONLY reply and lost
    connections are retried by the runner, other replies go to the dead letters. An event
    that cannot be encoded, or is longer than ``max_event_bytes``, fails alone (not retried).

    Delivery is at least once: when the connection breaks after Redis took the pipeline,
    the retry pushes those events again. GambolPutty rendered ``list`` once, not per event,
    and kept failed batches in memory; ``store_interval_in_secs``, ``batch_size`` and
    ``backlog_size`` are accepted and have no effect, because the runner hands over whole
    batches and backpressure is the listener's job.
    """

    aliases = ("output.RedisList",)
    examples = [
        Example(
            options={"list": "logs-$(host)", "server": "localhost"},
            given=[{"host": "web1", "data": "GET / 200"}],
            expect=[{"host": "web1", "data": "GET / 200"}],
            note="Pushes the event, as JSON, onto the list 'logs-web1'.",
        ),
        Example(
            options={"list": "lines", "format": "$(host) $(data)"},
            given=[{"host": "web1", "data": "GET / 200"}],
            expect=[{"data": "web1 GET / 200"}],
            note="Pushes the rendered line onto the list 'lines'.",
        ),
    ]

    def setup(self) -> None:
        self._redis = connect(self.options)

    def write(self, events: Batch) -> list[Failure]:
        failures, _replies = send_pipelined(
            self._redis, events, self.options, self.options.list, _rpush, group=True
        )
        return failures

    def close(self) -> None:
        self._redis.close()
