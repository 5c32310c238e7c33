"""RedisChannel against a real redis-server, with messages published by redis-cli."""

from __future__ import annotations

import subprocess

import pytest

from gp_celery.event import META, RECEIVED_FROM
from gp_celery.framing import INVALID_UTF8
from gp_celery.testing import BuildError, build
from tests.conftest import RedisServer, wait_for
from tests.inputs.conftest import ServeFactory, Serving, errors


def redis_cli(server: RedisServer, *args: str, stdin: bytes | None = None) -> str:
    command = ["redis-cli", "-p", str(server.port), *(["-x"] if stdin is not None else []), *args]
    done = subprocess.run(command, input=stdin, capture_output=True, timeout=10, check=True)
    return done.stdout.decode()


def subscribed(server: RedisServer, channel: str = "", pattern: bool = False) -> None:
    """Wait until the input's subscription is in place (publishing earlier reaches no one)."""
    client = server.client()

    def ready() -> bool:
        if pattern:
            return int(client.pubsub_numpat()) > 0
        return dict(client.pubsub_numsub(channel)).get(channel.encode(), 0) > 0

    wait_for(ready, 10, f"a subscriber on {channel or 'a pattern'}")


def serve(serve_input: ServeFactory, server: RedisServer, **options: object) -> Serving:
    return serve_input("RedisChannel", {"server": "127.0.0.1", "port": server.port, **options})


def test_messages_from_redis_cli_are_events_in_order_named_by_their_channel(
    serve_input: ServeFactory, redis_server: RedisServer
) -> None:
    serving = serve(serve_input, redis_server, channel=["web", "db"])
    subscribed(redis_server, "db")
    commands = "".join(
        f"PUBLISH {'web' if number % 2 else 'db'} 'message {number}'\n" for number in range(100)
    )
    subprocess.run(
        ["redis-cli", "-p", str(redis_server.port)],
        input=commands.encode(),
        capture_output=True,
        timeout=10,
        check=True,
    )
    events = serving.emit.wait_for(100)
    assert len(serving.emit.settle(quiet=0.2)) == 100
    assert [event["data"] for event in events] == [f"message {n}" for n in range(100)]
    assert [event[META][RECEIVED_FROM] for event in events[:2]] == ["db", "web"]


def test_a_pattern_subscribes_to_every_matching_channel(
    serve_input: ServeFactory, redis_server: RedisServer
) -> None:
    serving = serve(serve_input, redis_server, channel_pattern="logs.*")
    subscribed(redis_server, pattern=True)
    redis_cli(redis_server, "PUBLISH", "logs.web", "GET /")
    redis_cli(redis_server, "PUBLISH", "other", "not for us")
    redis_cli(redis_server, "PUBLISH", "logs.db", "SELECT 1")
    events = serving.emit.wait_for(2)
    assert len(serving.emit.settle(quiet=0.2)) == 2
    assert [(e[META][RECEIVED_FROM], e["data"]) for e in events] == [
        ("logs.web", "GET /"),
        ("logs.db", "SELECT 1"),
    ]


HOSTILE = {
    "invalid UTF-8": (b"bad \xff\xfe", "bad \ufffd\ufffd", [INVALID_UTF8]),
    "binary with NULs": (b"\x00\x01\x80bin\x00", "\x00\x01\ufffdbin\x00", [INVALID_UTF8]),
    "empty message": (b"", "", []),
    "oversize": (
        b"y" * 5000,
        "y" * 1000,
        ["datagram of 5000 bytes exceeds max_message_bytes=1000; truncated"],
    ),
}


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
def test_hostile_messages_are_data_tagged_not_lost(
    serve_input: ServeFactory, redis_server: RedisServer, case: str
) -> None:
    raw, expected, reasons = HOSTILE[case]
    serving = serve(serve_input, redis_server, channel="logs", max_message_bytes=1000)
    subscribed(redis_server, "logs")
    redis_cli(redis_server, "PUBLISH", "logs", stdin=raw)
    redis_cli(redis_server, "PUBLISH", "logs", "next")
    events = serving.emit.wait_for(2)
    assert [event["data"] for event in events] == [expected, "next"]
    assert errors(events[0]) == reasons
    assert errors(events[1]) == []


def test_after_redis_restarts_the_input_subscribes_again_and_counts_it(
    serve_input: ServeFactory, redis_server: RedisServer
) -> None:
    serving = serve(serve_input, redis_server, channel="logs")
    subscribed(redis_server, "logs")
    redis_cli(redis_server, "PUBLISH", "logs", "before")
    serving.emit.wait_for(1)
    redis_server.stop()  # the subscription goes with the connection
    wait_for(
        lambda: serving.module.stats.counts["reconnects"] >= 1,
        10,
        "the lost connection to be counted",
    )
    redis_server.start()
    subscribed(redis_server, "logs")
    redis_cli(redis_server, "PUBLISH", "logs", "after")
    assert [event["data"] for event in serving.emit.wait_for(2)] == ["before", "after"]
    assert serving.module.stats.counts["reconnects"] >= 1


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({}, "set 'channel' or 'channel_pattern'"),
        ({"channel": False, "channel_pattern": False}, "set 'channel' or 'channel_pattern'"),
        ({"channel": ["a", ""]}, "must not be empty"),
    ],
)
def test_something_must_be_subscribed_to(options: dict[str, object], problem: str) -> None:
    with pytest.raises(BuildError, match=problem):
        build("RedisChannel", options)
