"""A test plugin (loaded through ``Global: plugins``): a module whose state must see every
event in one process, like a join or a buffer."""

from __future__ import annotations

from gp_celery.event import Batch
from gp_celery.modules.base import Misc, NoOptions
from gp_celery.modules.registry import register


@register
class CountInOrder(Misc[NoOptions]):
    """Test plugin: numbers the events it sees, in order, in one process."""

    state = "single"

    def setup(self) -> None:
        self._seen = 0

    def process(self, events: Batch) -> Batch:
        for event in events:
            self._seen += 1
            event["seen"] = self._seen
        return events
