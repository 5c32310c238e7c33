"""MergeEvent's open buffers in a real Redis: a worker process that dies with events
buffered loses none; the next one starts from them and skips a redelivered chunk's copies."""

from __future__ import annotations

from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from gp_celery.event import Event
from gp_celery.modules.base import ModuleContext
from gp_celery.testing import build, run
from tests.conftest import RedisServer


def worker_process(port: int) -> Any:
    """MergeEvent as one worker process of a fleet runs it: the fleet's Redis in its context."""
    module = build("MergeEvent", {"pattern": r"^\S", "glue": "\n"}, node_id="merge")
    client = redis.Redis(port=port, retry=Retry(NoBackoff(), 0))  # fail at once, no retries
    module.context = ModuleContext(redis=client, process="host:1")
    module.setup()
    return module


def chunk(name: str, *texts: str) -> list[Event]:
    """Events as a chunk makes them: ids from the chunk's id and the position."""
    return [
        {"data": text, "gambolputty": {"event_id": f"{name}-{position}"}}
        for position, text in enumerate(texts)
    ]


def data(events: list[Event]) -> list[Any]:
    return [event["data"] for event in events]


def test_buffers_left_by_a_killed_process_are_open_again_in_the_next(
    redis_server: RedisServer,
) -> None:
    first = worker_process(redis_server.port)
    assert data(run(first, chunk("c1", "A", " a1", "B", " b1"))) == ["A\n a1"]
    # The process is killed here: B's buffer was saved before the batch went on.
    second = worker_process(redis_server.port)
    assert second.stats.counts["restored_events"] == 2
    assert data(run(second, chunk("c2", " b2", "C"))) == ["B\n b1\n b2"]
    assert data(second.flush()) == ["C"]
    assert redis_server.client().keys("gp-celery:merge-event:*") == []  # all handed on


def test_a_redelivered_chunk_does_not_buffer_its_events_twice(redis_server: RedisServer) -> None:
    first = worker_process(redis_server.port)
    assert data(run(first, chunk("c1", "A", " a1"))) == []
    # Killed before the chunk was acknowledged: the broker hands it out again.
    second = worker_process(redis_server.port)
    assert data(run(second, chunk("c1", "A", " a1"))) == []
    assert second.stats.counts["already_buffered"] == 2
    assert data(run(second, chunk("c2", " a2", "B"))) == ["A\n a1\n a2"]
    assert data(second.flush()) == ["B"]


def test_buffers_merged_by_age_leave_redis_too(redis_server: RedisServer) -> None:
    module = worker_process(redis_server.port)
    run(module, chunk("c1", "A", " a1"))
    assert redis_server.client().hlen("gp-celery:merge-event:merge") == 1
    assert data(module.tick(10**9)) == ["A\n a1"]  # far beyond flush_interval_in_secs
    assert redis_server.client().hlen("gp-celery:merge-event:merge") == 0


def test_a_redis_that_does_not_answer_keeps_the_buffers_in_memory_and_nothing_is_lost(
    redis_server: RedisServer,
) -> None:
    module = worker_process(1)  # nothing listens on port 1
    assert data(run(module, chunk("c1", "A", " a1", "B"))) == ["A\n a1"]
    assert data(module.flush()) == ["B"]


def test_text_that_is_not_utf8_and_odd_keys_round_trip_through_redis(
    redis_server: RedisServer,
) -> None:
    module = build(
        "MergeEvent",
        {"pattern": r"^\S", "glue": "|", "buffer_key": "$(host)"},
        node_id="merge-keys",
    )
    module.context = ModuleContext(redis=redis.Redis(port=redis_server.port), process="host:1")
    module.setup()
    events = [
        {"host": "h\udcff", "data": "start \udcfe", "gambolputty": {"event_id": "c-0"}},
        {"host": "h\udcff", "data": " more", "gambolputty": {"event_id": "c-1"}},
    ]
    assert run(module, events) == []
    again = build(
        "MergeEvent",
        {"pattern": r"^\S", "glue": "|", "buffer_key": "$(host)"},
        node_id="merge-keys",
    )
    again.context = ModuleContext(redis=redis.Redis(port=redis_server.port), process="host:2")
    again.setup()
    assert data(again.flush()) == ["start \udcfe| more"]
