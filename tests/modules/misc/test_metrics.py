"""Metrics: counts per value or bucket, and percentiles, sent on as events every interval."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
import redis

from gp_celery.event import errors_of, event_type
from gp_celery.modules.base import ModuleContext
from gp_celery.testing import BuildError, build, run
from tests.conftest import RedisServer

STATUS_BUCKETS = [{"name": n, "upper": n + 100} for n in (100, 200, 300, 400, 500)]


def report(module: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run the events through and tick past the interval: the metrics events."""
    module.tick(1000.0)
    out = run(module, events)
    assert len(out) == len(events)
    return module.tick(1000.0 + module.options.interval)  # type: ignore[no-any-return]


def by_name(emitted: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    assert {event_type(e) for e in emitted} <= {"metrics"}
    return {e["field_name"]: e for e in emitted}


def test_counts_values_per_rendered_name_and_events_pass_unchanged() -> None:
    module = build(
        "Metrics", {"aggregations": [{"name": "http_status_%{vhost}", "field": "http_status"}]}
    )
    given = [
        {"vhost": "a", "http_status": 200},
        {"vhost": "a", "http_status": 200},
        {"vhost": "a", "http_status": "404"},
        {"vhost": "b", "http_status": 200},
        {"vhost": "b"},  # no field: not counted
        {"http_status": 500},  # the name cannot be rendered: not counted
    ]
    module.tick(1000.0)
    out = run(module, given)
    assert [{k: v for k, v in e.items() if k != "gambolputty"} for e in out] == given
    found = by_name(module.tick(1010.0))
    assert found.keys() == {"http_status_a", "http_status_b"}
    assert found["http_status_a"]["field_counts"] == {200: 2, "404": 1}  # as they were
    assert found["http_status_a"]["total_count"] == 3
    assert found["http_status_b"]["field_counts"] == {200: 1}
    assert found["http_status_a"]["interval"] == 10
    assert found["http_status_a"]["interval_start"] % 10 == 0


def test_lumbermills_value_option_names_the_field_as_field_does() -> None:
    module = build("Metrics", {"aggregations": [{"name": "s", "value": "code"}]})
    assert by_name(report(module, [{"code": 1}, {"code": 1}]))["s"]["field_counts"] == {1: 2}


@pytest.mark.parametrize(
    ("value", "bucket"),
    [
        (50, 100),  # below every bound: the first bucket
        (199, 100),
        (200, 200),  # equal to a bound: the next bucket, as numpy.digitize (right=False)
        (299.5, 200),
        ("404", 400),  # numeric text is a number
        (599.99, 500),
        (600, "(over)"),  # at or above the last bound
        (-math.inf, None),
    ],
)
def test_a_number_goes_into_the_first_bucket_whose_upper_bound_is_greater(
    value: Any, bucket: int | str | None
) -> None:
    module = build(
        "Metrics", {"aggregations": [{"name": "s", "field": "v", "buckets": STATUS_BUCKETS}]}
    )
    emitted = report(module, [{"v": value}])
    if bucket is None:
        assert emitted == []
    else:
        assert by_name(emitted)["s"]["field_counts"] == {bucket: 1}


def test_percentiles_min_max_mean_std_match_numpy_defaults() -> None:
    rule = {"name": "rt_$(vhost)", "field": "t", "percentiles": [0, 25, 40, 50, 90, 99, 100]}
    module = build("Metrics", {"percentiles": [rule]})
    values = [40, "15", 50, 20.0, 35]
    found = by_name(report(module, [{"vhost": "a", "t": v} for v in values] + [{"vhost": "a"}]))
    event = found["rt_a"]
    # numpy.percentile([15, 20, 35, 40, 50], ...) and numpy.std by hand: rank (n-1)*p/100.
    assert event["percentiles"] == [15.0, 20.0, 29.0, 35.0, 46.0, pytest.approx(49.6), 50.0]
    assert (event["min"], event["max"], event["mean"], event["count"]) == (15, 50, 32, 5)
    assert event["std"] == pytest.approx(math.sqrt(830 / 5))  # squared deviations sum to 830
    assert event["sampled"] is False


def test_one_number_is_every_percentile() -> None:
    rule = {"name": "p", "field": "t", "percentiles": [1, 99]}
    module = build("Metrics", {"percentiles": [rule]})
    event = by_name(report(module, [{"t": 7}]))["p"]
    assert (event["percentiles"], event["std"]) == ([7.0, 7.0], 0.0)


HOSTILE = ["abc", None, "nan", math.nan, math.inf, "-inf", 10**400, [1, 2], {"a": 1}, True, b"1"]


@pytest.mark.parametrize("value", HOSTILE)
def test_a_value_that_is_not_a_finite_number_is_tagged_and_passes_on(value: Any) -> None:
    module = build(
        "Metrics",
        {
            "aggregations": [
                {"name": "b", "field": "v", "buckets": STATUS_BUCKETS},
                {"name": "plain", "field": "v"},
            ],
            "percentiles": [{"name": "p", "field": "v", "percentiles": [50]}],
        },
    )
    module.tick(1000.0)
    out = run(module, [{"v": value}, {"v": 250}])
    assert len(out) == 2
    assert len(errors_of(out[0])) == 2  # buckets and percentiles
    assert errors_of(out[1]) == []
    found = by_name(module.tick(1010.0))
    assert found["b"]["field_counts"] == {200: 1}
    assert found["p"]["count"] == 1
    assert found["plain"]["total_count"] == 2  # counted as a value all the same
    assert all(len(str(value)) <= 200 for value in found["plain"]["field_counts"])


def test_a_huge_int_within_floats_range_is_a_number() -> None:
    module = build("Metrics", {"percentiles": [{"name": "p", "field": "v", "percentiles": [50]}]})
    assert by_name(report(module, [{"v": 2**70}]))["p"]["max"] == float(2**70)


def test_values_beyond_max_values_and_names_beyond_max_names_count_as_other() -> None:
    module = build(
        "Metrics",
        {"aggregations": [{"name": "n_$(g)", "field": "v"}], "max_values": 2, "max_names": 2},
    )
    given = [{"g": "a", "v": n} for n in range(5)] + [{"g": g, "v": 1} for g in "bcd"]
    found = by_name(report(module, given))
    assert found["n_a"]["field_counts"] == {0: 1, 1: 1, "(other)": 3}
    assert found["n_b"]["field_counts"] == {1: 1}
    assert found["(other)"]["field_counts"] == {1: 2}
    assert sum(e["total_count"] for e in found.values()) == len(given)


def test_beyond_max_samples_the_percentiles_come_from_a_uniform_sample() -> None:
    rule = {"name": "p", "field": "v", "percentiles": [0, 50, 100]}
    module = build("Metrics", {"percentiles": [rule], "max_samples": 100})
    event = by_name(report(module, [{"v": n} for n in range(10_000)]))["p"]
    assert event["sampled"] is True
    assert (event["count"], event["min"], event["max"]) == (10_000, 0, 9999)
    assert event["mean"] == pytest.approx(4999.5)
    low, median, high = event["percentiles"]
    assert 0 <= low < 1000
    assert 2500 < median < 7500
    assert 9000 < high <= 9999


def test_each_interval_starts_afresh_and_the_last_is_sent_on_at_the_end() -> None:
    module = build("Metrics", {"aggregations": [{"name": "s", "field": "v"}], "interval": 5})
    assert by_name(report(module, [{"v": 1}]))["s"]["field_counts"] == {1: 1}
    run(module, [{"v": 2}])
    assert module.tick(1005.5) == []
    assert by_name(module.flush())["s"]["field_counts"] == {2: 1}
    assert module.flush() == []


def two_processes(server: RedisServer, node_id: str, options: dict[str, Any]) -> list[Any]:
    """Two instances of a node, as two worker processes of a fleet run it: one Redis."""
    client = redis.Redis(port=server.port)
    modules = []
    for process in ("host:1", "host:2"):
        module = build("Metrics", {**options, "interval": 3600}, node_id=node_id)
        module.context = ModuleContext(redis=client, process=process)
        module.setup()
        modules.append(module)
    return modules


def fleet_report(modules: list[Any], shares: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Each process runs its share and adds it to Redis; after the interval and its grace,
    exactly one of them reports it."""
    now = time.monotonic()
    for module, share in zip(modules, shares, strict=True):
        module.tick(now)
        run(module, share)
        module.tick(now)
    later = now + 3600 + 3  # a tick in an hour: the interval has ended, its grace passed
    reports = [module.tick(later) for module in modules]
    assert sorted(map(len, reports))[0] == 0, "an interval was reported twice"
    return reports[0] or reports[1]


def test_two_processes_sharing_redis_report_what_one_process_would(
    redis_server: RedisServer,
) -> None:
    options = {
        "aggregations": [{"name": "s_$(g)", "field": "v", "buckets": STATUS_BUCKETS}],
        "percentiles": [{"name": "p", "field": "v", "percentiles": [0, 10, 50, 95, 100]}],
    }
    events = [{"g": "a" if n % 3 else "b", "v": n * 7 % 601} for n in range(300)]
    alone = by_name(report(build("Metrics", {**options, "interval": 3600}), events))
    shared = by_name(
        fleet_report(two_processes(redis_server, "m2", options), [events[::2], events[1::2]])
    )
    assert shared.keys() == alone.keys() == {"s_a", "s_b", "p"}
    for name in ("s_a", "s_b"):
        assert shared[name]["field_counts"] == alone[name]["field_counts"]
        assert shared[name]["processes"] == 2
    p_shared, p_alone = shared["p"], alone["p"]
    assert p_shared["percentiles"] == p_alone["percentiles"]
    assert p_shared["count"] == p_alone["count"] == 300
    assert (p_shared["min"], p_shared["max"]) == (p_alone["min"], p_alone["max"]) == (0, 597)
    assert p_shared["mean"] == pytest.approx(p_alone["mean"])
    assert p_shared["std"] == pytest.approx(p_alone["std"])
    assert p_shared["sampled"] is False


def test_the_fleets_sample_stays_within_max_samples(redis_server: RedisServer) -> None:
    options = {"percentiles": [{"name": "p", "field": "v", "percentiles": [0, 100]}]}
    modules = two_processes(redis_server, "m3", {**options, "max_samples": 10})
    shares = [[{"v": n} for n in range(1000)], [{"v": n} for n in range(1000, 2000)]]
    event = by_name(fleet_report(modules, shares))["p"]
    assert (event["count"], event["min"], event["max"], event["sampled"]) == (2000, 0, 1999, True)
    assert event["mean"] == pytest.approx(999.5)
    keys = redis.Redis(port=redis_server.port).keys("gp-celery:simple-stats:m3:*:sample:*")
    assert [redis.Redis(port=redis_server.port).zcard(key) for key in keys] == [10]


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"aggregations": [{"name": "s"}]}, "'field'"),
        ({"aggregations": [{"name": "s", "field": "a", "value": "b"}]}, "not both"),
        (
            {"aggregations": [{"name": "s", "field": "a", "buckets": STATUS_BUCKETS[::-1]}]},
            "increase",
        ),
        ({"percentiles": [{"name": "p", "field": "t", "percentiles": [101]}]}, "100"),
        ({"percentiles": [{"name": "p", "field": "t", "percentiles": []}]}, "percentiles"),
    ],
)
def test_bad_rules_are_config_errors(options: dict[str, Any], problem: str) -> None:
    with pytest.raises(BuildError, match=problem):
        build("Metrics", options)


def test_lumbermills_own_test_counts_values_and_buckets_with_their_types() -> None:
    """tests/misc/TestMetrics.py of LumberMill: field_counts keys are the values (or the
    bucket names) as they were, numbers staying numbers."""
    events = [
        {"http_status": status, "vhost": "this.parrot.dead"}
        for status in [200] * 10 + [301] * 5 + [302] * 3 + [404] * 3
    ]
    events += [
        {"http_status": status, "vhost": "this.parrot.alive"}
        for status in [200] + [301] * 2 + [404] * 3
    ]
    plain = build(
        "Metrics",
        {"interval": 1, "aggregations": [{"name": "http_status_$(vhost)", "field": "http_status"}]},
    )
    found = by_name(report(plain, events))
    assert found["http_status_this.parrot.dead"]["field_counts"] == {
        200: 10,
        301: 5,
        302: 3,
        404: 3,
    }
    assert found["http_status_this.parrot.alive"]["field_counts"] == {200: 1, 301: 2, 404: 3}
    buckets = [{"name": n, "upper": n + 99} for n in (100, 200, 300, 400, 500)]
    bucketed = build(
        "Metrics",
        {
            "interval": 1,
            "aggregations": [
                {"name": "http_status_$(vhost)", "field": "http_status", "buckets": buckets}
            ],
        },
    )
    events = [
        {**event, "http_status": 202 if event["http_status"] == 200 else event["http_status"]}
        for event in events
    ]
    found = by_name(report(bucketed, events))
    assert found["http_status_this.parrot.dead"]["field_counts"] == {200: 10, 300: 8, 400: 3}
    assert found["http_status_this.parrot.alive"]["field_counts"] == {200: 1, 300: 2, 400: 3}


def test_lumbermills_own_percentiles() -> None:
    rule = {
        "name": "request_time_$(vhost)",
        "field": "request_time",
        "percentiles": [40, 65, 95, 99],
    }
    module = build("Metrics", {"interval": 1, "percentiles": [rule]})
    events = [{"request_time": n, "vhost": "this.parrot.dead"} for n in range(10, 100, 10)]
    events += [{"request_time": n, "vhost": "this.parrot.alive"} for n in range(10, 100, 5)]
    found = by_name(report(module, events))
    alive = found["request_time_this.parrot.alive"]
    assert (alive["min"], alive["max"], alive["mean"]) == (10, 95, 52.5)
    assert alive["std"] == 25.940637360455632
    assert alive["percentiles"] == [44.0, 65.25, 90.75, 94.14999999999999]
    dead = found["request_time_this.parrot.dead"]
    assert (dead["mean"], dead["std"]) == (50.0, 25.81988897471611)
