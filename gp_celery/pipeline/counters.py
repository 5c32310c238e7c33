"""Per-node counters: what came in, went on, was dropped by rule, failed or bypassed."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class NodeCounters:
    """Every node's ledger: ``events_in + made == events_out + dropped + dead_lettered``.

    ``events_out`` is what went on to receivers, or, at a sink, what was written, or, at
    the end of a branch, what is done. ``made`` counts events the module made itself (a tick
    emitting stats, Permutate's extra copies); ``copies`` the extra copies routing made for a
    second and later receiver, which the receivers count in. Over a finished run of the
    fleet, inputs' ``events_in`` plus every ``made`` and ``copies`` equals what the ends
    wrote or finished plus every ``dropped`` and ``dead_lettered``
    (``gp-celery stats --reconcile``). ``failed`` counts events tagged with an error here
    (they still go on); ``bypassed`` events that failed the input filter and skipped the
    module (they go on too)."""

    events_in: int = 0
    events_out: int = 0
    dropped: int = 0
    failed: int = 0
    bypassed: int = 0
    dead_lettered: int = 0
    made: int = 0
    copies: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)
