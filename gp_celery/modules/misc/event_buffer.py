"""EventBuffer: accepted for old configs; delivery is guaranteed without it."""

from __future__ import annotations

from pydantic import Field

from gp_celery.modules.base import Example, Misc, Options
from gp_celery.modules.registry import register


class EventBufferOptions(Options):
    backend: str = "RedisStore"
    """GambolPutty: id of the store that held the copies; not used."""
    gc_interval: float = Field(default=5, gt=0)
    """GambolPutty: seconds between garbage collections; not used."""
    key_prefix: str = "gambolputty:eventbuffer"
    """GambolPutty: prefix of the copies' keys; not used."""


@register
class EventBuffer(Misc[EventBufferOptions]):
    """Accepted for old configs and does nothing: delivery is guaranteed without it.

    GambolPutty's EventBuffer stored a copy of every event in Redis until it was garbage
    collected and meant to replay the leftovers after a crash. Here every step that could
    lose an event already holds it until the next step has it:

    - inputs acknowledge their source (a Redis list item, a Kafka offset, a file offset)
      only once a listener has published the chunk holding it (``Input.delivered``);
    - a listener stores each chunk in Redis before its task message is sent, and a sweep
      sends a chunk again whose message was lost;
    - workers acknowledge a task only when its batch has gone through every sink (acks
      late, rejected when a worker dies), so a killed worker's batch is delivered again;
    - what a sink still refuses after its retries goes, whole, to the dead letters, from
      which ``gp-celery dlq replay`` sends it back.

    A per-event copy would add a Redis write and delete per event and guarantee nothing
    more, so the node stands alone, does nothing, and says so once in the log. In
    embedded mode (one process, no broker) events in memory are lost if the process is
    killed, with or without this node: run with ``workers: 2`` or more for the guarantees
    above. Its options are accepted and not used.
    """

    aliases = ("misc.EventBuffer",)
    stands_alone = True
    examples = [
        Example(
            options={"backend": "RedisStore", "gc_interval": 5},
            given=[],
            expect=[],
            note="Logs once that it is not needed; events never pass through it.",
        ),
    ]

    def setup(self) -> None:
        self.log.info(
            "%s: not needed here and does nothing: inputs, listeners and workers hold "
            "every event until the next step has it (see `gp-celery modules EventBuffer`).",
            self.label,
        )
