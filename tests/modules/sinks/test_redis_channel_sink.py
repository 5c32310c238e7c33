"""RedisChannelSink against a real redis-server: PUBLISH per event in one round trip."""

from __future__ import annotations

from typing import Any

import orjson

from gp_celery.testing import build, run
from tests.conftest import RedisServer


def sink(server: RedisServer, **options: Any) -> Any:
    return build("RedisChannelSink", {"server": "127.0.0.1", "port": server.port, **options})


CLIENTS: list[Any] = []
"""Clients kept alive: one freed closes its pool's sockets, the pubsub's among them."""


def subscribed(server: RedisServer, pattern: str) -> Any:
    client = server.client()
    CLIENTS.append(client)
    pubsub = client.pubsub()
    pubsub.psubscribe(pattern)
    assert pubsub.get_message(timeout=5)["type"] == "psubscribe"
    return pubsub


def messages(pubsub: Any) -> list[tuple[bytes, bytes]]:
    got = []
    while (message := pubsub.get_message(timeout=1)) is not None:
        if message["type"] == "pmessage":
            got.append((message["channel"], message["data"]))
    return got


def test_events_are_published_as_json_to_their_rendered_channel(
    redis_server: RedisServer,
) -> None:
    pubsub = subscribed(redis_server, "events-*")
    events = [{"host": "a", "n": 1}, {"host": "b", "n": 2}, {"host": "a", "n": 3}]
    assert run(sink(redis_server, channel="events-$(host)"), events) == []
    got = messages(pubsub)
    assert [(channel, orjson.loads(data)["n"]) for channel, data in got] == [
        (b"events-a", 1),
        (b"events-b", 2),
        (b"events-a", 3),
    ]


def test_format_publishes_the_rendered_text(redis_server: RedisServer) -> None:
    pubsub = subscribed(redis_server, "*")
    assert (
        run(sink(redis_server, channel="c", format="$(host) $(data)"), [{"host": "h", "data": "d"}])
        == []
    )
    assert messages(pubsub) == [(b"c", b"h d")]


def test_publishing_to_nobody_is_written_and_counted(redis_server: RedisServer) -> None:
    module = sink(redis_server, channel="nobody-listens")
    assert module.write([{"data": "1"}, {"data": "2"}]) == []
    assert module.stats.counts["unheard"] == 2


def test_server_down_is_retriable_and_hostile_events_fail_alone(
    redis_server: RedisServer,
) -> None:
    module = sink(redis_server, channel="c", max_event_bytes=100, timeout_secs=2)
    loop: dict[str, Any] = {}
    loop["loop"] = loop
    failures = module.write([{"data": "x" * 200}, loop, {"data": "ok"}])
    assert [(f.index, f.retriable) for f in failures] == [(0, False), (1, False)]
    redis_server.stop()
    failures = module.write([{"data": "ok"}, {"data": "x" * 200}])
    assert sorted((f.index, f.retriable) for f in failures) == [(0, True), (1, False)]
