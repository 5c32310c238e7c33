"""`gp-celery stats`: the fleet's counters, live, once, as JSON, or reconciled."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, Final

import orjson

from gp_celery.config import PipelineConfig
from gp_celery.stats.access import add_broker_argument, open_fleet
from gp_celery.stats.fleet import FleetTotals

EXIT_UNBALANCED: Final = 4
SAMPLE_SECS: Final = 1.0
"""--once and --json read twice this far apart, so they show rates too."""


def add_stats_parser(commands: Any, with_config: Any) -> None:
    stats = commands.add_parser(
        "stats",
        help="the fleet's counters: rates, totals, queue depths, dead letters, processes",
        description="Add up what every listener and worker process of this config wrote to "
        "Redis (each writes its totals every 5 s, and they are kept 7 days after it stops): "
        "per node events in, out, dropped, failed and dead-lettered, with rates; per stage "
        "queue depth and task latency; which processes are alive. Live until Ctrl-C, or "
        "once. Redis: --broker, else GP_REDIS_URL / GP_BROKER_URL as a worker reads them.",
        epilog="exit status: 0 done (--reconcile: everything adds up); 1 configuration "
        "problem; 2 Redis cannot be reached; 4 --reconcile: the counts do not add up, or "
        "the run is not finished (tasks still queued or running).",
    )
    with_config(stats)
    add_broker_argument(stats, named=True)
    stats.add_argument("--once", action="store_true", help="print the table once and exit")
    stats.add_argument("--json", action="store_true", help="print one JSON document and exit")
    stats.add_argument(
        "--reconcile",
        action="store_true",
        help="for a finished run: check that events in + made + copies = written or done "
        "+ dropped + dead letters, per node and per group of inputs; exit 4 if not",
    )
    stats.add_argument(
        "--interval", type=float, default=2.0, help="seconds between refreshes (live mode)"
    )
    stats.set_defaults(handler=cmd_stats)


def add_exporter_parser(commands: Any, with_config: Any) -> None:
    exporter = commands.add_parser(
        "exporter",
        help="serve the fleet's counters as Prometheus metrics on /metrics",
        description="Read what every listener and worker process of this config wrote to "
        "Redis at each scrape and serve it in Prometheus' text format: per node counters "
        "(gp_celery_node_events_in_total, ...), module counters, listener counters, stage "
        "task latency histograms, queue depths, dead letters and processes alive. Basic "
        "auth when GP_METRICS_AUTH=user:password is set.",
        epilog="exit status: 0 stopped by SIGINT/SIGTERM; 1 configuration problem; 2 the "
        "port cannot be bound or Redis is not configured.",
    )
    with_config(exporter)
    add_broker_argument(exporter, named=True)
    exporter.add_argument("--port", type=int, default=9464, help="port to serve on (9464)")
    exporter.add_argument("--bind", default="127.0.0.1", help="address to serve on (127.0.0.1)")
    exporter.set_defaults(handler=cmd_exporter)


def cmd_exporter(args: argparse.Namespace) -> int:
    import signal

    from gp_celery.cli import EXIT_OK, EXIT_RUNTIME
    from gp_celery.stats.metrics import FleetCollector, registry_of, serve_metrics

    fleet = open_fleet(args, "exporter", log=True)
    if isinstance(fleet, int):
        return fleet
    stops = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stops)  # the server's threads inherit it
    try:
        collector = FleetCollector(fleet.config, fleet.read)
        server = serve_metrics(registry_of([collector]), args.bind, args.port)
    except OSError as error:
        print(f"gp-celery exporter: cannot serve on {args.bind}:{args.port}: {error}")
        return EXIT_RUNTIME
    print(f"gp-celery exporter: serving http://{args.bind}:{server.server_port}/metrics")
    sys.stdout.flush()
    try:
        signal.sigwait(stops)
    finally:
        server.shutdown()
    return EXIT_OK


def cmd_stats(args: argparse.Namespace) -> int:
    from redis.exceptions import RedisError

    from gp_celery.broker.redis import describe_failure
    from gp_celery.cli import EXIT_OK, EXIT_RUNTIME

    fleet = open_fleet(args, "stats")
    if isinstance(fleet, int):
        return fleet
    config, read = fleet.config, fleet.read
    from gp_celery.stats.table import as_json, render

    try:
        if args.reconcile:
            return _reconcile(config, read())
        if args.json or args.once:
            before = read()
            time.sleep(SAMPLE_SECS)
            now = read()
            if args.json:
                print(orjson.dumps(as_json(now, before), option=orjson.OPT_INDENT_2).decode())
            else:
                _console().print(render(config, now, before))
            return EXIT_OK
        _live(config, read, args.interval)
    except (RedisError, OSError) as error:
        print(f"gp-celery stats: {describe_failure(fleet.url, error)}", file=sys.stderr)
        return EXIT_RUNTIME
    return EXIT_OK


def _live(config: PipelineConfig, read: Any, interval: float) -> None:
    from rich.live import Live

    from gp_celery.stats.table import render

    before = read()
    with Live(render(config, before, None), console=_console(), auto_refresh=False) as live:
        try:
            while True:
                time.sleep(max(0.2, interval))
                now = read()
                live.update(render(config, now, before), refresh=True)
                before = now
        except KeyboardInterrupt:
            pass


def _console() -> Any:
    """A terminal's width; on a pipe wide enough that node ids are never cut."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=160)


def _reconcile(config: PipelineConfig, totals: FleetTotals) -> int:
    from gp_celery.cli import EXIT_OK
    from gp_celery.stats.ledger import reconcile

    result = reconcile(config, totals.nodes, totals.in_flight)
    for balance in result.balances:
        print(("OK " if balance.difference == 0 else "MISMATCH ") + balance.sentence())
    for problem in result.node_problems:
        print(f"MISMATCH {problem}")
    if result.in_flight:
        print(
            f"NOT FINISHED {result.in_flight} tasks are still queued or being run; "
            "reconcile once the queues are empty"
        )
    alive = [process for process in totals.alive() if process.role == "listener"]
    if alive:
        print(f"note: {len(alive)} listener(s) still running; more events may come")
    return EXIT_OK if result.ok else EXIT_UNBALANCED
