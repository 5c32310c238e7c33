"""Throttle: the min_count-th to max_count-th event per key and window pass, in one process
or, through a Redis store, across processes."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis

from gp_celery.config import parse_config
from gp_celery.event import errors_of
from gp_celery.testing import BuildError, build, pipeline, run
from tests.conftest import RedisServer, free_port


def throttle(**options: Any) -> Any:
    return build("Throttle", {"key": "$(Spam)", **options})


def spam(count: int, key: Any = "Spam") -> list[dict[str, Any]]:
    return [{"Spam": key, "n": n} for n in range(count)]


def test_by_default_only_the_first_event_per_key_and_window_passes() -> None:
    out = run(throttle(), [*spam(3), *spam(2, "Eggs")])
    assert [(event["Spam"], event["n"]) for event in out] == [("Spam", 0), ("Eggs", 0)]


def test_min_count_lets_the_fifth_of_five_through() -> None:
    out = run(throttle(timeframe=60, min_count=5, max_count=10), spam(5))
    assert [event["n"] for event in out] == [4]


def test_max_count_stops_after_ten_across_batches() -> None:
    module = throttle(timeframe=60, min_count=1, max_count=10)
    passed = [event["n"] for part in range(4) for event in run(module, spam(5))]
    assert len(passed) == 10


def test_a_new_window_starts_when_the_timeframe_is_over() -> None:
    module = throttle(timeframe=0.5)  # long enough that a slow first batch stays in it
    assert len(run(module, spam(3))) == 1
    time.sleep(0.6)
    assert len(run(module, spam(3))) == 1


def test_max_count_below_min_count_is_a_config_error() -> None:
    with pytest.raises(BuildError, match="'max_count' \\(1\\) is smaller than 'min_count'"):
        throttle(min_count=2)


@pytest.mark.parametrize(
    "value", [None, 3, 2.5, {"a": [1]}, ["x"], b"\xff\xfe", "\udcff", "x" * 100_000, ""]
)
def test_any_key_value_is_counted_and_nothing_raises(value: Any) -> None:
    out = run(throttle(max_count=2), [{"Spam": value}] * 3)
    assert len(out) == 2
    assert all(errors_of(event) == [] for event in out)


def test_a_missing_key_field_counts_as_one_key() -> None:
    out = run(throttle(), [{"other": 1}, {"other": 2}])
    assert len(out) == 1


def test_the_in_process_store_is_bounded_by_max_keys() -> None:
    module = throttle(max_keys=10)
    run(module, [{"Spam": n} for n in range(100)])
    assert len(module._store) == 10


def store_config(redis_server: RedisServer, node: str = "RedisStore", **options: Any) -> str:
    settings = ", ".join(f"{key}: {value}" for key, value in options.items())
    return f"""
- {node}:
    id: counts
    server: 127.0.0.1
    port: {redis_server.port}
    {settings}
- Throttle:
    key: $(Spam)
    max_count: 7
    backend: counts
    backend_key_prefix: test
"""


def test_processes_sharing_a_redis_backend_pass_exactly_max_count_together(
    redis_server: RedisServer,
) -> None:
    one = pipeline(parse_config(store_config(redis_server)))
    two = pipeline(parse_config(store_config(redis_server)))
    passed = 0
    for _ in range(5):
        passed += len(run(one, spam(3), "Throttle")) + len(run(two, spam(3), "Throttle"))
    assert passed == 7
    client = redis.Redis(port=redis_server.port)
    assert int(client.get("test:Spam") or 0) == 30
    assert 0 < client.pttl("test:Spam") <= 600_000


@pytest.mark.parametrize("value", ["\udcff", None, {"a": 1}, "x" * 100_000, ""])
def test_any_key_value_is_counted_in_redis_too(redis_server: RedisServer, value: Any) -> None:
    built = pipeline(parse_config(store_config(redis_server)))
    out = run(built, spam(9, value), "Throttle")
    assert len(out) == 7
    assert all(errors_of(event) == [] for event in out)


def test_a_key_value_store_with_a_redis_backend_is_shared_too(redis_server: RedisServer) -> None:
    text = store_config(redis_server, "KeyValueStore", backend="RedisStore")
    one, two = pipeline(parse_config(text)), pipeline(parse_config(text))
    assert len(run(one, spam(5), "Throttle")) + len(run(two, spam(5), "Throttle")) == 7


def test_an_unreachable_redis_passes_the_batch_tagged() -> None:
    config = f"""
- RedisStore: {{server: 127.0.0.1, port: {free_port()}, socket_timeout: 1}}
- Throttle: {{key: $(Spam), backend: RedisStore}}
"""
    out = run(pipeline(parse_config(config)), spam(3), "Throttle")
    assert len(out) == 3
    assert all("Redis did not answer" in errors_of(event)[0]["reason"] for event in out)


def test_a_backend_that_is_not_a_store_is_a_config_error() -> None:
    with pytest.raises(BuildError, match="backend: unknown store 'nowhere'"):
        throttle(backend="nowhere")
    config = "- Noop\n- Throttle: {key: $(a), backend: Noop}\n"
    with pytest.raises(Exception, match="'Noop' is a Noop, not a store"):
        parse_config(config)
