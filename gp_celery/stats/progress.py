"""Embedded mode on a terminal: a live progress line while it runs, the node table at the end."""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import Any, Final

from gp_celery.config import PipelineConfig
from gp_celery.stats.fleet import FleetTotals

SHOW_AFTER_SECS: Final = 2.0
"""Short runs print nothing extra: the line appears once a run has lasted this long."""
REDRAW_SECS: Final = 0.5


def wanted() -> bool:
    """Only where a person watches: stderr is a terminal."""
    return sys.stderr.isatty()


def local_totals(counters: dict[str, dict[str, int]]) -> FleetTotals:
    """One process's counters in the shape `gp-celery stats` shows a fleet's."""
    totals = FleetTotals.empty()
    totals.nodes = {node: Counter(counts) for node, counts in counters.items()}
    return totals


class ProgressLine:
    """events in / written, and the rate over the last second, redrawn in place."""

    def __init__(self, config: PipelineConfig) -> None:
        from rich.console import Console

        self.config = config
        self.console = Console(stderr=True)
        self.inputs = [spec.id for spec in config.nodes if spec.family == "input"]
        self.ends = [spec.id for spec in config.nodes if not spec.receivers]
        self.started = time.monotonic()
        self._live: Any = None
        self._last: tuple[float, int] = (self.started, 0)

    def due(self, now: float) -> bool:
        return now - self.started >= SHOW_AFTER_SECS and now - self._last[0] >= REDRAW_SECS

    def update(self, now: float, counters: dict[str, dict[str, int]]) -> None:
        came_in = sum(counters.get(node, {}).get("events_in", 0) for node in self.inputs)
        written = sum(counters.get(node, {}).get("events_out", 0) for node in self.ends)
        then, before = self._last
        rate = (came_in - before) / (now - then) if now > then else 0.0
        self._last = (now, came_in)
        text = (
            f"{self.config.file}: {came_in:,} events in, {written:,} written or done, "
            f"{rate:,.0f} events/s, {now - self.started:,.0f}s"
        )
        if self._live is None:
            from rich.live import Live

            self._live = Live(text, console=self.console, transient=True, auto_refresh=False)
            self._live.start()
        self._live.update(text, refresh=True)

    def finish(self, counters: dict[str, dict[str, int]]) -> None:
        """Remove the line; print the table of every node."""
        from gp_celery.stats.table import node_table

        if self._live is not None:
            self._live.stop()
        elapsed = max(time.monotonic() - self.started, 1e-9)
        average = {node: counts.get("events_in", 0) / elapsed for node, counts in counters.items()}
        self.console.print(node_table(self.config, local_totals(counters), average))
