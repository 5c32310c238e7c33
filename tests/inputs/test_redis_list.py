"""RedisList against a real redis-server and redis-cli, run by the real InputRunner and
Chunker (as embedded mode runs it), so items are removed only when their chunk is delivered."""

from __future__ import annotations

import socket
import subprocess
import threading
from typing import Any

import pytest

from gp_celery.event import META, RECEIVED_FROM
from gp_celery.framing import INVALID_UTF8
from gp_celery.testing import BuildError, build
from gp_celery_inputs.listener.runner import InputFailedError
from gp_celery_inputs.redis_list import ListOwnedError
from tests.conftest import RedisServer, wait_for
from tests.inputs.conftest import errors
from tests.inputs.delivering import Running

PROCESSING = "{list}:gp-celery:processing:test-host:redis"


def read_lists(server: RedisServer, gate: threading.Event | None = None, **options: Any) -> Running:
    settings = {"server": "127.0.0.1", "port": server.port, "consumer": "test-host"}
    return Running(build("RedisList", {**settings, **options}, node_id="redis"), gate)


def redis_cli(server: RedisServer, *args: str, stdin: bytes | None = None) -> str:
    command = ["redis-cli", "-p", str(server.port), *(["-x"] if stdin is not None else []), *args]
    done = subprocess.run(command, input=stdin, capture_output=True, timeout=10, check=True)
    return done.stdout.decode()


def drained(server: RedisServer, *lists: str) -> bool:
    client = server.client()
    keys = [*lists, *(PROCESSING.format(list=name) for name in lists)]
    return all(client.llen(key) == 0 for key in keys)


def test_items_from_redis_cli_are_events_named_by_their_list_and_removed_once_delivered(
    redis_server: RedisServer,
) -> None:
    running = read_lists(redis_server, lists=["logs", "audit"])
    redis_cli(redis_server, "RPUSH", "logs", "one", "two")
    redis_cli(redis_server, "RPUSH", "audit", "three")
    running.wait_for(3)
    by_list = {(event[META][RECEIVED_FROM], event["data"]) for event in running.events}
    assert by_list == {("logs", "one"), ("logs", "two"), ("audit", "three")}
    wait_for(lambda: drained(redis_server, "logs", "audit"), 15, "the lists to be emptied")
    running.stop()
    assert len(running.events) == 3
    assert redis_server.client().keys("*") == []  # a clean stop leaves no owner record


def test_many_items_arrive_once_each_and_in_order_in_small_batches(
    redis_server: RedisServer,
) -> None:
    client = redis_server.client()
    client.rpush("logs", *(f"item {n}" for n in range(400)))
    running = read_lists(redis_server, lists="logs", batch_size=7)
    data = running.wait_for(400)
    wait_for(lambda: drained(redis_server, "logs"), 15, "the list to be emptied")
    running.stop()
    assert data == [f"item {n}" for n in range(400)]


HOSTILE = {
    "invalid UTF-8": (b"bad \xff\xfe", "bad \ufffd\ufffd", [INVALID_UTF8]),
    "binary with NULs": (b"\x00\x01\x80bin\x00", "\x00\x01\ufffdbin\x00", [INVALID_UTF8]),
    "empty item": (b"", "", []),
    "whitespace is kept": (b" x \n", " x \n", []),
    "oversize": (
        b"\xc3\xa9" * 1000,
        "\xe9" * 500,
        ["datagram of 2000 bytes exceeds max_item_bytes=1001; truncated"],
    ),
}


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
def test_hostile_items_are_data_tagged_not_lost(redis_server: RedisServer, case: str) -> None:
    raw, expected, reasons = HOSTILE[case]
    running = read_lists(redis_server, lists="logs", max_item_bytes=1001)
    redis_cli(redis_server, "RPUSH", "logs", stdin=raw)
    redis_cli(redis_server, "RPUSH", "logs", "next")
    assert running.wait_for(2) == [expected, "next"]
    assert errors(running.events[0]) == reasons
    assert errors(running.events[1]) == []
    wait_for(lambda: drained(redis_server, "logs"), 15, "the list to be emptied")
    running.stop()


def test_a_key_that_is_not_a_list_is_counted_while_the_other_lists_flow(
    redis_server: RedisServer,
) -> None:
    redis_cli(redis_server, "HSET", "odd", "field", "value")
    running = read_lists(redis_server, lists=["odd", "logs"])
    redis_cli(redis_server, "RPUSH", "logs", "fine")
    assert running.wait_for(1) == ["fine"]
    counts = running.module.stats.counts
    wait_for(lambda: counts["wrong_type"] >= 3, 15, "WRONGTYPE counted, with backoff")
    redis_cli(redis_server, "RPUSH", "logs", "still flowing")
    assert running.wait_for(2, timeout=10) == ["fine", "still flowing"]
    redis_cli(redis_server, "DEL", "odd")
    redis_cli(redis_server, "RPUSH", "odd", "a list now")
    assert running.wait_for(3) == ["fine", "still flowing", "a list now"]
    running.stop()
    assert redis_server.client().hgetall("odd") == {}


def test_items_in_flight_when_the_process_dies_come_again_at_start_and_only_they(
    redis_server: RedisServer,
) -> None:
    gate = threading.Event()
    gate.set()
    client = redis_server.client()
    first = read_lists(redis_server, gate=gate, lists="logs")
    client.rpush("logs", *(f"delivered {n}" for n in range(50)))
    first.wait_for(50)
    wait_for(lambda: drained(redis_server, "logs"), 15, "the delivered items to be removed")
    gate.clear()  # deliveries hang from now on: the next items stay in flight
    client.rpush("logs", *(f"in flight {n}" for n in range(30)))
    processing = PROCESSING.format(list="logs")
    wait_for(lambda: client.llen(processing) == 30, 15, "30 items in the processing list")
    first.crash()
    assert client.llen("logs") == 0

    client.rpush("logs", "after the restart")
    second = read_lists(redis_server, lists="logs")
    data = second.wait_for(31)
    wait_for(lambda: drained(redis_server, "logs"), 15, "the lists to be emptied")
    second.stop()
    assert data == [*(f"in flight {n}" for n in range(30)), "after the restart"]
    assert second.module.stats.counts["replayed"] == 30


def test_a_redis_restart_mid_run_loses_nothing_and_is_counted(
    redis_server: RedisServer,
) -> None:
    running = read_lists(redis_server, lists="logs")
    client = redis_server.client()
    client.rpush("logs", *(f"before {n}" for n in range(300)))
    running.wait_for(300)
    wait_for(lambda: drained(redis_server, "logs"), 15, "the list to be emptied")
    redis_server.stop()  # AOF: the lists survive, the connection does not
    wait_for(
        lambda: running.module.stats.counts["connection_errors"] >= 1,
        10,
        "the lost connection to be counted",
    )
    redis_server.start()
    client = redis_server.client()
    client.rpush("logs", *(f"after {n}" for n in range(300)))
    data = running.wait_for(600)
    wait_for(lambda: drained(redis_server, "logs"), 10, "the list to be emptied")
    running.stop()
    assert data == [*(f"before {n}" for n in range(300)), *(f"after {n}" for n in range(300))]
    assert running.module.stats.counts["connection_errors"] >= 1


def test_a_processing_list_that_a_live_process_here_owns_is_refused(
    redis_server: RedisServer,
) -> None:
    other = subprocess.Popen(["sleep", "30"])
    try:
        owner = PROCESSING.format(list="logs") + ":owner"
        redis_server.client().hset(
            owner,
            mapping={"token": "theirs", "acked": 0, "host": socket.gethostname(), "pid": other.pid},
        )
        second = read_lists(redis_server, lists="logs")
        second.join()
    finally:
        other.kill()
        other.wait()
    assert isinstance(second.error, InputFailedError)
    assert isinstance(second.error.__cause__, ListOwnedError)
    assert f"process {other.pid} on this host already reads 'logs'" in str(second.error)
    assert redis_server.client().hget(owner, "token") == b"theirs"


@pytest.mark.parametrize(
    ("options", "problem"),
    [({"lists": []}, "at least 1 item"), ({"lists": ["a", ""]}, "must not be empty")],
)
def test_lists_must_name_lists(options: dict[str, Any], problem: str) -> None:
    with pytest.raises(BuildError, match=problem):
        build("RedisList", options)
