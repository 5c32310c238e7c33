"""RedisListSink against a real redis-server: RPUSH per list and batch, per-list failures,
retriable connection loss, hostile events failing alone."""

from __future__ import annotations

import threading
import time
from typing import Any

import orjson
import pytest
import redis.exceptions as errors

from gp_celery.modules.sinks.redis_target import is_retriable
from gp_celery.pipeline.sink_writer import SinkWriter
from gp_celery.testing import BuildError, build, run
from tests.conftest import RedisServer, free_port, wait_for


def sink(server: RedisServer, **options: Any) -> Any:
    return build("RedisListSink", {"server": "127.0.0.1", "port": server.port, **options})


def test_events_are_pushed_as_json_in_order(redis_server: RedisServer) -> None:
    events = [{"data": f"line {n}", "n": n} for n in range(5)]
    assert run(sink(redis_server, list="logs"), events) == []
    stored = [orjson.loads(item) for item in redis_server.client().lrange("logs", 0, -1)]
    assert [event["n"] for event in stored] == [0, 1, 2, 3, 4]
    assert stored[0]["gambolputty"]["event_id"]


def test_list_name_and_format_are_rendered_per_event(redis_server: RedisServer) -> None:
    events = [{"host": "a", "data": "1"}, {"host": "b", "data": "2"}, {"host": "a", "data": "3"}]
    assert run(sink(redis_server, list="logs-$(host)", format="$(host):$(data)"), events) == []
    client = redis_server.client()
    assert client.lrange("logs-a", 0, -1) == [b"a:1", b"a:3"]
    assert client.lrange("logs-b", 0, -1) == [b"b:2"]


def test_a_key_of_another_type_fails_its_events_only_and_is_not_retried(
    redis_server: RedisServer,
) -> None:
    client = redis_server.client()
    client.set("logs-bad", "a string")
    module = sink(redis_server, list="logs-$(host)")
    failures = module.write([{"host": "bad"}, {"host": "good"}, {"host": "bad"}])
    assert [(f.index, f.retriable) for f in failures] == [(0, False), (2, False)]
    assert "WRONGTYPE" in failures[0].error
    assert client.llen("logs-good") == 1


def test_an_empty_list_name_fails_the_event(redis_server: RedisServer) -> None:
    failed = run(sink(redis_server, list="$(host)"), [{"data": "no host"}, {"host": "h"}])
    assert len(failed) == 1
    assert "empty key" in failed[0]["gambolputty"]["errors"][0]["reason"]


def test_server_down_fails_the_batch_retriably_and_a_restart_heals(
    redis_server: RedisServer,
) -> None:
    module = sink(redis_server, list="logs", timeout_secs=2)
    assert module.write([{"data": "before"}]) == []
    redis_server.stop()
    failures = module.write([{"data": "during"}, {"data": "during"}])
    assert [(f.index, f.retriable) for f in failures] == [(0, True), (1, True)]
    assert "ConnectionError" in failures[0].error
    redis_server.start()  # AOF keeps what was pushed before
    assert module.write([{"data": "after"}]) == []
    items = [orjson.loads(item)["data"] for item in redis_server.client().lrange("logs", 0, -1)]
    assert items == ["before", "after"]


def test_out_of_memory_replies_are_retriable(tmp_path: Any) -> None:
    server = RedisServer(free_port(), tmp_path, appendonly=False, maxmemory="2mb")
    server.start()
    try:
        module = sink(server, list="logs")
        big = {"data": "x" * 100_000}
        failures: list[Any] = []
        for _ in range(100):
            failures = module.write([big])
            if failures:
                break
        assert failures
        assert failures[0].retriable
        assert "OutOfMemoryError" in failures[0].error
    finally:
        server.stop()


def test_wrong_password_is_not_retriable(redis_server: RedisServer) -> None:
    redis_server.client().config_set("requirepass", "secret")
    failures = sink(redis_server, list="logs", password="wrong").write([{"data": "x"}])
    assert [f.retriable for f in failures] == [False]


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({"data": "x" * 2000}, "more than max_event_bytes (1000)"),
        ({"n": 10**5000}, "cannot encode"),
        ({"data": b"\xff\xfe bytes", "s": {1, 2}}, None),
        ({"data": "lone \udcff surrogate"}, None),
    ],
)
def test_hostile_events_fail_alone_with_a_reason_or_are_converted(
    redis_server: RedisServer, event: dict[str, Any], reason: str | None
) -> None:
    module = sink(redis_server, list="logs", max_event_bytes=1000)
    failed = run(module, [event, {"data": "fine"}])
    stored = redis_server.client().lrange("logs", 0, -1)
    if reason is None:
        assert failed == []
        assert len(stored) == 2
    else:
        assert len(failed) == 1
        assert reason in failed[0]["gambolputty"]["errors"][0]["reason"]
        assert len(stored) == 1  # nothing lost: one stored, one failed


def test_a_dict_that_contains_itself_fails_alone(redis_server: RedisServer) -> None:
    loop: dict[str, Any] = {"data": "loop"}
    loop["self"] = loop
    failures = sink(redis_server, list="logs").write([loop, {"data": "fine"}])
    assert [(f.index, f.retriable) for f in failures] == [(0, False)]
    assert redis_server.client().llen("logs") == 1


def test_options_are_checked_at_load() -> None:
    with pytest.raises(BuildError, match="list"):
        build("RedisListSink", {})
    with pytest.raises(BuildError, match="port"):
        build("RedisListSink", {"list": "x", "port": 0})


def test_lumbermill_name_is_accepted() -> None:
    assert build("output.RedisList", {"list": "x"}).name == "RedisListSink"


@pytest.mark.parametrize(
    ("error", "retriable"),
    [
        (errors.ConnectionError("refused"), True),
        (errors.TimeoutError("timed out"), True),
        (errors.BusyLoadingError("loading"), True),
        (errors.ResponseError("OOM command not allowed"), True),
        (errors.OutOfMemoryError("command not allowed when used memory > 'maxmemory'."), True),
        (errors.TryAgainError("Multiple keys request during rehashing of slot"), True),
        (errors.ResponseError("BUSY Redis is busy running a script."), True),
        (errors.ReadOnlyError("READONLY You can't write against a read only replica."), True),
        (errors.ResponseError("MISCONF Redis is configured to save RDB snapshots"), True),
        (errors.ResponseError("LOADING Redis is loading the dataset in memory"), True),
        (errors.ResponseError("WRONGTYPE Operation against a key"), False),
        (errors.ResponseError("ERR string exceeds maximum allowed size"), False),
        (errors.AuthenticationError("invalid password"), False),
        (errors.AuthorizationError("NOPERM"), False),
        (errors.DataError("Invalid input"), False),
        (ConnectionResetError(104, "reset"), True),
    ],
)
def test_is_retriable(error: Exception, retriable: bool) -> None:
    assert is_retriable(error) is retriable


def test_the_runner_retries_until_redis_is_back_and_dead_letters_the_rest(
    redis_server: RedisServer,
) -> None:
    client = redis_server.client()
    client.set("taken", "not a list")
    module = sink(redis_server, list="$(key)", timeout_secs=2)
    letters: list[Any] = []
    sleeps: list[float] = []

    def sleep(delay: float) -> None:
        sleeps.append(delay)
        if len(sleeps) == 2:
            redis_server.start()  # back after two failed attempts

    writer = SinkWriter(module, 4, 0.01, lambda _n, events, _t: letters.extend(events), sleep)
    redis_server.stop()
    events = [{"key": "logs", "n": n} for n in range(3)] + [{"key": "taken", "n": 3}]
    written, dead = writer.write(events)
    assert (written, dead) == (3, 1)  # in == written + dead-lettered
    assert len(sleeps) == 2  # two attempts while Redis was down; WRONGTYPE is not retried
    assert [orjson.loads(item)["n"] for item in client.lrange("logs", 0, -1)] == [0, 1, 2]
    assert [letter["n"] for letter in letters] == [3]
    assert "WRONGTYPE" in letters[0]["gambolputty"]["errors"][-1]["reason"]


def test_a_busy_server_times_out_retriably(redis_server: RedisServer) -> None:
    module = sink(redis_server, list="logs", timeout_secs=0.3)
    assert module.write([{"data": "warm"}]) == []  # connected before the server gets busy
    busy = threading.Thread(target=_run_a_long_script, args=(redis_server,))
    busy.start()
    time.sleep(0.1)
    try:
        failures = module.write([{"data": "slow"}])
    finally:
        busy.join()
    assert [f.retriable for f in failures] == [True]
    assert "Timeout" in failures[0].error
    wait_for(lambda: _answers(redis_server), 60, "the busy script to end")
    assert module.write([{"data": "again"}]) == []


def _run_a_long_script(redis_server: RedisServer) -> None:
    """Keep Redis busy for a few seconds. Under load redis-py may time out and send the
    EVAL again, which Redis answers BUSY while the first one still runs: that is fine."""
    import redis

    try:
        redis_server.client().eval("for i = 1, 400000000 do end", 0)
    except redis.exceptions.ResponseError as error:
        if "BUSY" not in str(error):
            raise


def _answers(redis_server: RedisServer) -> bool:
    """Redis answers PING (not BUSY) once the script is over, on every connection."""
    import redis

    try:
        return bool(redis_server.client().ping())
    except redis.exceptions.BusyLoadingError:
        return False
    except redis.exceptions.ResponseError as error:
        if "BUSY" in str(error):
            return False
        raise
