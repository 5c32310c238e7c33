"""DropEvent: discard every event that reaches it."""

from __future__ import annotations

from gp_celery.event import Batch
from gp_celery.modules.base import Example, Modifier, NoOptions
from gp_celery.modules.registry import register


@register
class DropEvent(Modifier[NoOptions]):
    """Drop every event it receives; give it a filter to drop selectively.

    As in GambolPutty, an event that does not match the node's ``filter`` bypasses the
    module and goes on, so ``filter: $(http_status) == '200'`` drops only those.
    """

    aliases = ("modifier.DropEvent",)
    examples = [
        Example(
            options={"filter": "$(http_status) == '200'"},
            given=[{"url": "/", "http_status": "200"}, {"url": "/gone", "http_status": "404"}],
            expect=[{"url": "/gone", "http_status": "404"}],
            note="Drop the successful requests; the others bypass the module and go on.",
        ),
        Example(options={}, given=[{"data": "anything"}], expect=[], note="Drop everything."),
    ]

    def process(self, events: Batch) -> Batch:
        return []  # the runner counts what a node drops
