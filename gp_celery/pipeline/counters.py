"""Per-node counters: what came in, went on, was dropped by rule, failed or bypassed."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class NodeCounters:
    """``events_in == events_out + dropped + (sink) written`` holds per batch; ``failed``
    counts events tagged with an error here (they still go on); ``bypassed`` counts events
    that failed the input filter and skipped the module."""

    events_in: int = 0
    events_out: int = 0
    dropped: int = 0
    failed: int = 0
    bypassed: int = 0
    dead_lettered: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)
