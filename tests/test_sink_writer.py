"""The sink runner's retries: exponential backoff with jitter, up to a limit, then the
dead letters; a real FileSink on /dev/full (ENOSPC, worth retrying) fails every write."""

from __future__ import annotations

import pytest

from gp_celery.event import Batch, errors_of
from gp_celery.pipeline.sink_writer import SinkWriter, backoff_delay
from gp_celery.testing import build


@pytest.mark.parametrize(
    ("attempt", "draw", "expected"),
    [
        (0, 0.0, 0.5),  # never sooner than half the backoff
        (0, 0.999, 0.9995),  # nor later than all of it
        (1, 0.5, 1.5),  # 2 s, jittered to 3/4
        (3, 0.0, 4.0),  # 8 s
        (5, 0.0, 15.0),  # 32 s is over the 30 s limit: the limit is jittered instead
        (5, 0.999, 29.985),
        (10_000, 0.5, 22.5),  # a huge attempt number neither overflows nor passes the limit
    ],
)
def test_backoff_doubles_up_to_the_limit_and_jitters_over_its_upper_half(
    attempt: int, draw: float, expected: float
) -> None:
    assert backoff_delay(attempt, 1.0, 30.0, draw) == pytest.approx(expected)


def test_jittered_delays_differ_between_writers_that_failed_together() -> None:
    import random

    draws = random.Random(7)
    delays = {backoff_delay(2, 0.5, 30.0, draws.random()) for _ in range(20)}
    assert len(delays) == 20
    assert all(1.0 <= delay < 2.0 for delay in delays)


def _full_disk_writer(
    retries: int, slept: list[float], letters: list[tuple[Batch, int]]
) -> SinkWriter:
    sink = build("FileSink", {"file_name": "/dev/full"}, node_id="archive")
    return SinkWriter(
        sink,
        retries,
        1.0,
        lambda _node, events, attempts: letters.append((events, attempts)),
        sleep=slept.append,
        max_delay=3.0,
        draw=lambda: 0.5,
    )


def test_retriable_failures_are_retried_with_capped_backoff_then_dead_lettered() -> None:
    slept: list[float] = []
    letters: list[tuple[Batch, int]] = []
    writer = _full_disk_writer(4, slept, letters)
    assert writer.write([{"data": "a"}, {"data": "b"}]) == (0, 2)
    assert slept == [0.75, 1.5, 2.25, 2.25]  # 1, 2, 4 -> 3, 8 -> 3; each at 3/4
    [(events, attempts)] = letters
    assert attempts == 5
    assert [event["data"] for event in events] == ["a", "b"]
    for event in events:
        [error] = errors_of(event)
        assert error["node"] == "archive"
        assert "No space left on device" in error["reason"]


def test_without_retries_nothing_sleeps_and_the_batch_goes_to_the_dead_letters() -> None:
    slept: list[float] = []
    letters: list[tuple[Batch, int]] = []
    assert _full_disk_writer(0, slept, letters).write([{"data": "a"}]) == (0, 1)
    assert slept == []
    assert [attempts for _events, attempts in letters] == [1]


def test_global_options_set_the_retries_the_base_and_the_limit_of_every_sink() -> None:
    from gp_celery.config import parse_config
    from gp_celery.testing import pipeline

    config = parse_config(
        "- Global:\n    sink_retries: 7\n    sink_retry_base_secs: 0.2\n"
        "    sink_retry_max_secs: 4\n- StdIn\n- DevNullSink:\n    id: sink\n",
        "p.yml",
        {},
    )
    writer = pipeline(config).writers["sink"]
    assert (writer.retries, writer.base_delay, writer.max_delay) == (7, 0.2, 4.0)


@pytest.mark.parametrize("value", [0, -1, 3601])
def test_a_retry_limit_out_of_range_is_a_config_problem(value: float) -> None:
    from gp_celery.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match="sink_retry_max_secs"):
        parse_config(f"- Global:\n    sink_retry_max_secs: {value}\n- StdIn\n", "p.yml", {})
