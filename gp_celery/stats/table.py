"""How `gp-celery stats` shows the fleet: rich tables (plain on a pipe), or JSON."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from rich.console import Group
from rich.table import Table

from gp_celery.config import PipelineConfig
from gp_celery.stats.fleet import FleetTotals

NODE_COLUMNS = ("events_in", "events_out", "dropped", "failed", "dead_lettered")


def rates(now: FleetTotals, before: FleetTotals | None) -> dict[str, float]:
    """Events per second into each node between two readings (empty with one)."""
    if before is None or now.read_at <= before.read_at:
        return {}
    elapsed = now.read_at - before.read_at
    return {
        node: (counts["events_in"] - before.nodes.get(node, Counter())["events_in"]) / elapsed
        for node, counts in now.nodes.items()
    }


def node_table(config: PipelineConfig, now: FleetTotals, per_second: dict[str, float]) -> Table:
    """Every node in topological order with its totals (and rate, where known)."""
    nodes = Table(title=f"{config.file}: nodes", title_justify="left")
    nodes.add_column("node")
    nodes.add_column("family")
    nodes.add_column("in/s", justify="right")
    for column in NODE_COLUMNS:
        nodes.add_column(column.replace("_", " "), justify="right")
    for spec in config.order:
        counts = now.nodes.get(spec.id, Counter())
        rate = per_second.get(spec.id)
        nodes.add_row(
            spec.id,
            spec.family,
            "-" if rate is None else f"{rate:,.0f}",
            *(f"{counts[column]:,}" for column in NODE_COLUMNS),
        )
    return nodes


def render(config: PipelineConfig, now: FleetTotals, before: FleetTotals | None) -> Group:
    nodes = node_table(config, now, rates(now, before))
    stages = Table(title="stages", title_justify="left")
    for column in ("queue", "depth", "tasks", "mean task ms"):
        stages.add_column(column, justify="left" if column == "queue" else "right")
    for queue, depth in now.queue_depths.items():
        latency = now.stages.get(queue)
        tasks = latency.tasks if latency else 0
        mean = f"{latency.secs / tasks * 1000:,.1f}" if latency and tasks else "-"
        stages.add_row(queue, f"{depth:,}", f"{tasks:,}", mean)
    processes = Table(title="processes", title_justify="left")
    for column in ("process", "alive", "last seen", "what it runs"):
        processes.add_column(column)
    for process in now.processes:
        about = process.about
        runs = about.get("stages") or about.get("inputs") or ""
        if isinstance(runs, dict):
            runs = ", ".join(f"{queue} {digest[:12]}" for queue, digest in runs.items())
        elif isinstance(runs, list):
            runs = ", ".join(runs)
        if about.get("config_version") is not None:
            runs = f"version {about['config_version']}: {runs}"
        processes.add_row(
            f"{process.role} {process.host}:{process.pid}",
            "yes" if process.alive(now.read_at) else ("stopped" if process.stopped else "no"),
            f"{max(0.0, now.read_at - process.seen):.0f}s ago",
            str(runs),
        )
    alive = len(now.alive())
    footer = (
        f"{alive} of {len(now.processes)} processes alive; in flight {now.in_flight:,} tasks "
        f"({now.unacked:,} being run); dead letters {now.dead_letters:,}, parked "
        f"{now.parked:,}; read {time.strftime('%H:%M:%S', time.localtime(now.read_at))}"
    )
    return Group(nodes, stages, processes, footer)


def as_json(now: FleetTotals, before: FleetTotals | None) -> dict[str, Any]:
    found = now.as_json()
    found["rates"] = rates(now, before)
    return found
