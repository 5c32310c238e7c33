"""Prometheus metrics: the fleet's totals (`gp-celery exporter`) or one listener's own
(`gp-celery listen --metrics-port`), in the text format, from prometheus-client.

Counters keep the conventional ``_total`` names; a fleet's numbers are sums over every
process that flushed (see gp_celery.stats), so they never go down while processes restart.
Optional basic auth: ``GP_METRICS_AUTH=user:password`` in the environment.
"""

from __future__ import annotations

import logging
import os
import socketserver
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from gp_celery.config import PipelineConfig
from gp_celery.pipeline.counters import NodeCounters
from gp_celery.stats.basic_auth import CHALLENGE, authorized
from gp_celery.stats.fleet import FleetTotals, totals_from_fields

log = logging.getLogger(__name__)

AUTH_ENV: Final = "GP_METRICS_AUTH"
NODE_HELP: Final = {
    "events_in": "Events that reached the node.",
    "events_out": "Events the node sent on, wrote (sinks) or finished (ends of branches).",
    "dropped": "Events dropped by rule (DropEvent, filters no receiver matched).",
    "failed": "Events tagged with an error at the node (they still went on).",
    "bypassed": "Events that failed the node's filter and went on unchanged.",
    "dead_lettered": "Events a sink could not write, kept in the dead letters.",
    "made": "Events the module made itself (reports, permutations).",
    "copies": "Copies routing made for a second and later receiver.",
}
LISTENER_HELP: Final = {
    "chunks": "Chunks (task messages) published.",
    "bytes": "Bytes of records published.",
    "publish_errors": "Failed attempts to publish (retried).",
    "paused_secs": "Seconds the inputs were paused by backpressure.",
    "spooled_chunks": "Chunks spooled to a local file at a stop.",
    "spooled_records": "Records in spooled chunks.",
}


class FleetCollector(Collector):
    """Reads the totals at every scrape and turns them into metric families."""

    def __init__(self, config: PipelineConfig, read: Callable[[], FleetTotals]) -> None:
        self.config = config
        self.read = read

    def collect(self) -> Iterator[Metric]:
        totals = self.read()
        families = {spec.id: spec.family for spec in self.config.nodes}
        yield from node_metrics(totals, families)
        yield from module_metrics(totals)
        yield from listener_metrics(totals)
        yield from stage_metrics(totals)
        yield from fleet_gauges(totals)


class ListenerCollector(Collector):
    """One listener's own numbers: what it published, what its inputs counted."""

    def __init__(self, read: Callable[[], Mapping[str, float]]) -> None:
        self.read = read

    def collect(self) -> Iterator[Metric]:
        totals = totals_from_fields(self.read())
        yield from module_metrics(totals)
        yield from listener_metrics(totals)


def node_metrics(totals: FleetTotals, families: dict[str, str]) -> Iterator[Metric]:
    for name in NodeCounters.__dataclass_fields__:
        metric = CounterMetricFamily(
            f"gp_celery_node_{name}", NODE_HELP.get(name, name), labels=["node", "family"]
        )
        for node, family in families.items():
            counts = totals.nodes.get(node)
            metric.add_metric([node, family], counts[name] if counts else 0)
        yield metric


def module_metrics(totals: FleetTotals) -> Iterator[Metric]:
    metric = CounterMetricFamily(
        "gp_celery_module_events",
        "What modules count themselves (kernel drops, refused connections, chunks published "
        "per input, ...), by node and name.",
        labels=["node", "name"],
    )
    for node, counts in totals.modules.items():
        for name, value in counts.items():
            metric.add_metric([node, name], value)
    yield metric


def listener_metrics(totals: FleetTotals) -> Iterator[Metric]:
    for name, text in LISTENER_HELP.items():
        unit = "gp_celery_listener_paused_seconds" if name == "paused_secs" else None
        metric = CounterMetricFamily(unit or f"gp_celery_listener_{name}", text)
        metric.add_metric([], totals.listeners.get(name, 0))
        yield metric


def stage_metrics(totals: FleetTotals) -> Iterator[Metric]:
    metric = HistogramMetricFamily(
        "gp_celery_stage_task_seconds",
        "How long workers took to run a stage's task (a chunk or batch through its nodes).",
        labels=["stage"],
    )
    for stage, latency in totals.stages.items():
        buckets = [(repr(bound), count) for bound, count in sorted(latency.buckets.items())]
        buckets.append(("+Inf", latency.tasks))
        metric.add_metric([stage], buckets, latency.secs)
    yield metric


def fleet_gauges(totals: FleetTotals) -> Iterator[Metric]:
    depth = GaugeMetricFamily(
        "gp_celery_queue_depth", "Tasks waiting in a stage's queue.", labels=["queue"]
    )
    for queue, count in totals.queue_depths.items():
        depth.add_metric([queue], count)
    yield depth
    gauges = {
        "gp_celery_tasks_unacked": ("Tasks delivered to a worker, not yet done.", totals.unacked),
        "gp_celery_dead_letters": ("Dead letters kept in Redis.", totals.dead_letters),
        "gp_celery_parked_chunks": ("Chunks parked for a config no worker runs.", totals.parked),
    }
    for name, (text, value) in gauges.items():
        yield GaugeMetricFamily(name, text, value=value)
    processes = GaugeMetricFamily(
        "gp_celery_processes",
        "Listener and worker processes that flushed counters, alive or not.",
        labels=["role", "alive"],
    )
    seen: dict[tuple[str, str], int] = {}
    for process in totals.processes:
        key = (process.role, "true" if process.alive(totals.read_at) else "false")
        seen[key] = seen.get(key, 0) + 1
    for (role, alive), count in sorted(seen.items()):
        processes.add_metric([role, alive], count)
    yield processes


def registry_of(collectors: Iterable[Collector]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    for collector in collectors:
        registry.register(collector)
    return registry


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug(f"metrics: {format}", *args)


def with_basic_auth(app: Any, credentials: str | None) -> Any:
    """The app behind HTTP basic auth when ``credentials`` ("user:password") are set."""
    if not credentials:
        return app

    def guarded(environ: dict[str, Any], start_response: Any) -> Any:
        if authorized(environ.get("HTTP_AUTHORIZATION", ""), credentials):
            return app(environ, start_response)
        start_response("401 Unauthorized", [CHALLENGE, ("Content-Type", "text/plain")])
        return [b"authentication required\n"]

    return guarded


def serve_metrics(registry: CollectorRegistry, bind: str, port: int) -> WSGIServer:
    """Serve /metrics on a daemon thread; the caller shuts the server down."""
    from prometheus_client import make_wsgi_app

    app = with_basic_auth(make_wsgi_app(registry), os.environ.get(AUTH_ENV))
    server = make_server(bind, port, app, _ThreadingServer, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
