"""SimpleStats: counts pass-through events, logs per interval, optionally emits statistics."""

from __future__ import annotations

import copy
import logging
import re
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from gp_celery.config import ConfigError, parse_config
from gp_celery.event import Batch, Event, event_type
from gp_celery.modules.base import ModuleContext
from gp_celery.modules.misc.simple_stats.fleet import GRACE_SECS
from gp_celery.pipeline.node import build_node
from gp_celery.testing import BuildError, build, pipeline, run
from tests.conftest import RedisServer


def typed(name: str, **fields: Any) -> dict[str, Any]:
    return {"gambolputty": {"event_id": "x", "event_type": name}, **fields}


BATCH = [typed("httpd_access_log")] * 12 + [{"data": "unparsed"}] * 3
QUIET = {"process_statistics": False}
"""Without psutil's numbers a report line is the same every run."""
ONLY_PROCESS = {"event_type_statistics": False, "receive_rate_statistics": False}


def test_events_pass_on_unchanged() -> None:
    events = [typed("a", data="x"), {"data": 1}]
    out = run(build("SimpleStats"), events)
    assert [e.get("data") for e in out] == ["x", 1]
    assert len(out) == len(events)


def test_logs_count_rate_and_types_every_interval(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    module = build("SimpleStats", {"interval": 10, **QUIET})
    module.tick(1000.0)
    run(module, BATCH)
    assert module.tick(1005.0) == []
    assert caplog.records == []
    module.tick(1010.0)
    assert caplog.messages == [
        "SimpleStats: 15 events in 10.0s (1.5/s); by type: httpd_access_log=12, Unknown=3"
    ]


def test_counters_restart_after_each_report(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    module = build("SimpleStats", {"interval": 1, **QUIET}, node_id="stats")
    module.tick(0.0)
    run(module, BATCH)
    module.tick(1.0)
    run(module, [typed("x")])
    module.tick(3.0)
    assert caplog.messages[-1] == "SimpleStats 'stats': 1 events in 2.0s (0.5/s); by type: x=1"


def test_parts_can_be_switched_off(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    module = build("SimpleStats", {"interval": 1, "event_type_statistics": False, **QUIET})
    module.tick(0.0)
    run(module, BATCH)
    module.tick(2.0)
    assert caplog.messages == ["SimpleStats: 15 events in 2.0s (7.5/s)"]


def test_emit_as_event_sends_statistic_events() -> None:
    module = build("SimpleStats", {"interval": 10, "emit_as_event": True, **QUIET})
    module.tick(0.0)
    run(module, BATCH)
    emitted = module.tick(10.0)
    assert all(event_type(event) == "statistic" for event in emitted)
    shown = [
        {k: e[k] for k in ("field_name", "field_count", "interval", "event_rate")} for e in emitted
    ]
    assert shown == [
        {"field_name": "events_received", "field_count": 15, "interval": 10, "event_rate": 1.5},
        {"field_name": "event_type_Unknown", "field_count": 3, "interval": 10, "event_rate": 0.3},
        {
            "field_name": "event_type_httpd_access_log",
            "field_count": 12,
            "interval": 10,
            "event_rate": 1.2,
        },
    ]


def test_close_logs_the_rest(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    module = build("SimpleStats", QUIET)
    module.tick(0.0)
    run(module, [typed("a")])
    module.tick(4.0)
    module.close()
    assert caplog.messages == ["SimpleStats: final: 1 events in 4.0s (0.2/s); by type: a=1"]


def test_close_before_a_whole_tick_gives_no_rate(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    module = build("SimpleStats", QUIET)
    run(module, [typed("a")])
    module.close()
    assert caplog.messages == ["SimpleStats: final: 1 events; by type: a=1"]


def test_close_without_events_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    build("SimpleStats").close()
    assert caplog.messages == []


def test_odd_event_types_and_metadata_are_counted() -> None:
    module = build("SimpleStats", {"interval": 1, "emit_as_event": True, **QUIET})
    module.tick(0.0)
    module.process([{"gambolputty": "not a dict"}, typed(7), typed("ü")])  # type: ignore[arg-type]
    names = [e["field_name"] for e in module.tick(1.0)]
    assert names == ["events_received", "event_type_7", "event_type_Unknown", "event_type_ü"]


def test_waiting_event_statistics_is_accepted() -> None:
    build("SimpleStats", {"waiting_event_statistics": True})


@pytest.mark.parametrize("interval", [0, -1, "often"])
def test_bad_interval_is_a_load_error(interval: Any) -> None:
    with pytest.raises(BuildError, match="interval"):
        build("SimpleStats", {"interval": interval})


def test_in_a_pipeline_statistics_reach_the_next_node(tmp_path: Path) -> None:
    config = tmp_path / "p.yml"
    out_file = tmp_path / "stats.log"
    config.write_text(
        "- misc.SimpleStats:\n"
        "   interval: 1\n"
        "   emit_as_event: true\n"
        "- FileSink:\n"
        f"   file_name: {out_file}\n"
        "   format: $(field_name)=$(field_count)\n"
    )
    built = pipeline(config)
    built.tick(0.0)
    run(built, [{"data": "a"}, {"data": "b"}])
    built.tick(1.5)
    built.close()
    assert "events_received=2" in out_file.read_text().splitlines()


# --- process_statistics: psutil numbers about the process -----------------------------------


def test_process_statistics_default_to_lumbermills_cpu_and_memory_percent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    module = build("SimpleStats", {"interval": 1})
    assert module.options.process_statistics == ["cpu_percent", "memory_percent"]
    module.tick(0.0)
    run(module, BATCH)
    module.tick(1.0)
    assert re.fullmatch(
        r"SimpleStats: 15 events in 1\.0s \(15\.0/s\); by type: httpd_access_log=12, "
        r"Unknown=3; process: cpu_percent=\d+(\.\d+)?, memory_percent=\d+(\.\d+)?",
        caplog.messages[0],
    )


@pytest.mark.parametrize(
    ("given", "names"),
    [(True, ["cpu_percent", "memory_percent"]), (False, []), (["num_fds"], ["num_fds"])],
)
def test_process_statistics_take_true_false_or_a_list(given: Any, names: list[str]) -> None:
    assert build("SimpleStats", {"process_statistics": given}).options.process_statistics == names


def test_process_numbers_are_this_processs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    wanted = ["memory_info", "num_threads", "num_fds"]
    module = build("SimpleStats", {"interval": 1, "process_statistics": wanted, **ONLY_PROCESS})
    module.tick(0.0)
    module.tick(1.0)
    me = psutil.Process()
    match = re.fullmatch(
        r"SimpleStats: process: memory_rss_bytes=(\d+), num_threads=(\d+), num_fds=(\d+)",
        caplog.messages[0],
    )
    assert match, caplog.messages
    rss, threads, fds = map(int, match.groups())
    assert abs(rss - me.memory_info().rss) < 50_000_000
    assert threads == me.num_threads()
    assert abs(fds - me.num_fds()) <= 2


def test_emit_as_event_sends_process_numbers_as_statistic_events() -> None:
    options = {"interval": 1, "emit_as_event": True, "process_statistics": ["num_threads"]}
    module = build("SimpleStats", {**options, **ONLY_PROCESS})
    module.tick(0.0)
    emitted = module.tick(1.0)
    assert [(e["field_name"], e["field_count"]) for e in emitted] == [
        ("process_num_threads", psutil.Process().num_threads())
    ]
    assert event_type(emitted[0]) == "statistic"
    assert "event_rate" not in emitted[0]
    assert emitted[0]["processes"] == 1


@pytest.mark.parametrize(
    ("given", "complaint"),
    [
        (["cpu_times"], "'cpu_times' is not a number this module reports; choose from"),
        (["memory_percnt"], "(did you mean 'memory_percent'?)"),
        (["open_files"], "'open_files' is not a number"),
        ("cpu_percent", "valid list"),
        ([1], "Input should be a valid string"),
    ],
)
def test_unknown_process_statistics_are_load_errors(given: Any, complaint: str) -> None:
    with pytest.raises(BuildError, match="process_statistics") as error:
        build("SimpleStats", {"process_statistics": given})
    assert complaint in str(error.value)


def test_a_bad_process_statistic_is_located_in_the_config() -> None:
    text = "- SimpleStats:\n   interval: 5\n   process_statistics:\n    - cpu_percent\n    - nice\n"
    with pytest.raises(ConfigError) as error:
        parse_config(text, "p.yml")
    assert str(error.value).startswith("p.yml:5: SimpleStats: process_statistics")


# --- in a fleet: counts add up in Redis, one process reports each interval ------------------


def fleet(
    server: RedisServer, options: dict[str, Any], processes: int = 2, node_id: str = "stats"
) -> list[Any]:
    """SimpleStats node ``node_id`` as ``processes`` worker processes would build it: each
    with its own Redis client and process name."""
    config = parse_config("", "<fleet>", data=[{"SimpleStats": {"id": node_id, **options}}])
    return [
        build_node(
            config, config.nodes[0], ModuleContext(redis=server.client(), process=f"host:{n}")
        ).module
        for n in range(processes)
    ]


def at(wall: float) -> float:
    """The runner's (monotonic) clock reading when the wall clock says ``wall``."""
    return wall - time.time() + time.monotonic()


def next_interval(interval: float) -> float:
    """When the next interval starts, on the wall clock."""
    return (time.time() // interval + 1) * interval


def tick_all(modules: list[Any], wall: float) -> list[Batch]:
    return [module.tick(at(wall)) for module in modules]


def test_in_a_fleet_exactly_one_process_reports_the_sum(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    first, second = fleet(redis_server, {"interval": 10, **QUIET})
    start = next_interval(10)
    tick_all([first, second], start + 0.2)
    first.process(copy.deepcopy(BATCH[:12]))
    second.process(copy.deepcopy(BATCH[12:]))
    tick_all([first, second], start + 1.2)  # each adds its counts
    tick_all([first, second], start + 10.2)  # a new interval: each says it was there
    assert caplog.messages == []
    tick_all([second, first], start + 10 + GRACE_SECS + 0.2)
    assert caplog.messages == [
        "SimpleStats 'stats' (2 processes): 15 events in 10.0s (1.5/s); "
        "by type: httpd_access_log=12, Unknown=3"
    ]
    assert caplog.records[0].name == "gp_celery.misc.SimpleStats"
    tick_all([first, second], start + 10 + GRACE_SECS + 1.2)
    assert len(caplog.messages) == 1


def test_in_a_fleet_statistic_events_carry_the_fleet_totals(redis_server: RedisServer) -> None:
    modules = fleet(redis_server, {"interval": 10, "emit_as_event": True, **QUIET}, processes=3)
    start = next_interval(10)
    tick_all(modules, start + 0.2)
    for module, count in zip(modules, (5, 7, 0), strict=True):
        module.process([typed("web") for _ in range(count)])
    tick_all(modules, start + 1.2)
    tick_all(modules, start + 10.2)
    emitted = tick_all(modules, start + 10 + GRACE_SECS + 0.2)
    assert [len(events) for events in emitted] == [2, 0, 0]
    shown = [
        {k: e[k] for k in ("field_name", "field_count", "event_rate", "processes")}
        for e in emitted[0]
    ]
    assert shown == [
        {"field_name": "events_received", "field_count": 12, "event_rate": 1.2, "processes": 3},
        {"field_name": "event_type_web", "field_count": 12, "event_rate": 1.2, "processes": 3},
    ]
    assert {e["interval_start"] for e in emitted[0]} == {start}
    assert all(event_type(e) == "statistic" for e in emitted[0])


def test_in_a_fleet_process_numbers_are_summed_over_processes(redis_server: RedisServer) -> None:
    options = {"interval": 10, "emit_as_event": True, "process_statistics": ["num_threads"]}
    modules = fleet(redis_server, {**options, **ONLY_PROCESS}, processes=3)
    start = next_interval(10)
    tick_all(modules, start + 0.2)
    tick_all(modules, start + 10.2)
    emitted = [e for events in tick_all(modules, start + 12.5) for e in events]
    # The three "processes" are this one, so the sum is three times its own number.
    assert [(e["field_name"], e["field_count"], e["processes"]) for e in emitted] == [
        ("process_num_threads", 3 * psutil.Process().num_threads(), 3)
    ]


def test_in_a_fleet_every_interval_is_reported_once_and_no_event_is_lost(
    redis_server: RedisServer,
) -> None:
    """Three processes tick once a second, a little apart, for eight 2-second intervals."""
    modules = fleet(redis_server, {"interval": 2, "emit_as_event": True, **QUIET}, processes=3)
    start = next_interval(2)
    counted = 0
    reports: list[Event] = []
    for second in range(20):
        for n, module in enumerate(modules):
            if second < 16:
                module.process([typed("web") for _ in range(n + second)])
                counted += n + second
            events = module.tick(at(start + second + 0.1 + n * 0.3))
            reports += [e for e in events if e["field_name"] == "events_received"]
    starts = [e["interval_start"] for e in reports]
    assert sorted(starts) == starts
    assert starts == [start + 2 * n for n in range(len(starts))]  # each once, none skipped
    assert len(starts) == 8  # the last counts (second 15) are in interval 7, reported at 18
    assert sum(e["field_count"] for e in reports) == counted


def test_two_simple_stats_nodes_keep_their_own_counts(redis_server: RedisServer) -> None:
    ones = fleet(redis_server, {"interval": 10, "emit_as_event": True, **QUIET}, node_id="one")
    twos = fleet(redis_server, {"interval": 10, "emit_as_event": True, **QUIET}, node_id="two")
    start = next_interval(10)
    tick_all(ones + twos, start + 0.2)
    ones[0].process([typed("a")] * 2)
    twos[1].process([typed("b")] * 5)
    tick_all(ones + twos, start + 1.2)
    tick_all(ones + twos, start + 10.2)
    emitted = tick_all(ones + twos, start + 12.5)
    counts = [[(e["field_name"], e["field_count"]) for e in events] for events in emitted]
    assert counts == [
        [("events_received", 2), ("event_type_a", 2)],
        [],
        [("events_received", 5), ("event_type_b", 5)],
        [],
    ]


def test_in_a_fleet_counts_wait_while_redis_is_down(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    (module,) = fleet(redis_server, {"interval": 10, "emit_as_event": True, **QUIET}, 1)
    start = next_interval(10)
    module.tick(at(start + 0.2))
    module.process([typed("a")] * 4)
    redis_server.stop()
    assert module.tick(at(start + 1.2)) == []
    assert "cannot reach Redis" in caplog.text
    assert "the counts are kept and added when it answers" in caplog.text
    redis_server.start()
    module.tick(at(start + 2.2))
    module.tick(at(start + 10.2))
    emitted = module.tick(at(start + 12.5))
    assert [(e["field_name"], e["field_count"]) for e in emitted] == [
        ("events_received", 4),
        ("event_type_a", 4),
    ]


def test_in_a_fleet_close_adds_the_last_counts(redis_server: RedisServer) -> None:
    leaving, staying = fleet(redis_server, {"interval": 10, "emit_as_event": True, **QUIET})
    start = next_interval(10)
    tick_all([leaving, staying], start + 0.2)
    leaving.process([typed("a")] * 3)
    leaving.close()
    staying.tick(at(start + 10.2))
    emitted = staying.tick(at(start + 12.5))
    assert [(e["field_name"], e["field_count"], e["processes"]) for e in emitted] == [
        ("events_received", 3, 2),
        ("event_type_a", 3, 2),
    ]


def test_in_a_fleet_keys_expire_after_a_few_intervals(redis_server: RedisServer) -> None:
    (module,) = fleet(redis_server, {"interval": 10, **QUIET}, 1)
    start = next_interval(10)
    module.tick(at(start + 0.2))
    module.process([typed("a")])
    module.tick(at(start + 1.2))
    module.tick(at(start + 12.5))
    client = redis_server.client()
    keys = sorted(client.keys("gp-celery:simple-stats:*"))
    index = int(start // 10)
    assert keys == [
        f"gp-celery:simple-stats:stats:{index}".encode(),
        f"gp-celery:simple-stats:stats:{index}:reported".encode(),
    ]
    assert all(0 < client.ttl(key) <= 60 for key in keys)


def test_in_a_fleet_close_says_which_counts_redis_did_not_take(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    (module,) = fleet(redis_server, {"interval": 10, **QUIET}, 1)
    module.tick(at(next_interval(10) + 0.2))
    module.process([typed("a")] * 6)
    redis_server.stop()
    module.close()
    assert "SimpleStats 'stats': could not add this process's last 6 events to Redis" in caplog.text
    assert "the fleet's report lacks them." in caplog.text
