"""Tarpit: hold every event for ``delay`` seconds before it goes on (for tests)."""

from __future__ import annotations

import time

from pydantic import Field

from gp_celery.event import Batch
from gp_celery.modules.base import Example, Misc, Options
from gp_celery.modules.registry import register


class TarpitOptions(Options):
    delay: float = Field(default=10, ge=0, le=3600)
    """Seconds each event is held (a batch of n events takes n * delay)."""


@register
class Tarpit(Misc[TarpitOptions]):
    """Sleep ``delay`` seconds per event before passing it on; for testing only.

    As in GambolPutty, the sleep blocks its caller: the worker process running the batch
    (in embedded mode the whole pipeline) does nothing else meanwhile, so a batch of n
    events holds a worker process for n * delay seconds. Use it to see how a pipeline
    behaves when a stage is slow (backpressure, a queue filling up), with ``queue:`` to
    slow only that stage. A batch held longer than the broker's visibility timeout is
    delivered again to another worker.
    """

    aliases = ("misc.Tarpit",)
    examples = [
        Example(
            options={"delay": 0.01},
            given=[{"data": "spam"}, {"data": "eggs"}],
            expect=[{"data": "spam"}, {"data": "eggs"}],
            note="Both events go on after 0.02 s.",
        ),
    ]

    def process(self, events: Batch) -> Batch:
        if events and self.options.delay:
            time.sleep(self.options.delay * len(events))
        return events
