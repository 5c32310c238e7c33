"""DevNullSink: accept events and keep none of them."""

from __future__ import annotations

from gp_celery.event import Batch
from gp_celery.modules.base import Example, Failure, NoOptions, Sink
from gp_celery.modules.registry import register


@register
class DevNullSink(Sink[NoOptions]):
    """Discard every event (for benchmarks and for muting a branch)."""

    aliases = ("output.DevNull",)
    examples = [
        Example(options={}, given=[{"data": "spam"}, {"data": "eggs"}], expect=[]),
    ]

    def write(self, events: Batch) -> list[Failure]:
        return []
