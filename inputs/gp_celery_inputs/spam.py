"""Spam: generate test events, as fast as possible or at a given pace."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any, Final

from pydantic import Field, field_validator

from gp_celery.codec import pack
from gp_celery.framing import Framing, Piece
from gp_celery.modules.base import Emit, Example, Input, Options
from gp_celery.modules.registry import register

BATCH_EVENTS: Final = 500


class SpamOptions(Options):
    event: str | dict[str, Any] | list[str | dict[str, Any]] = ""
    """The event data; a dict is merged into the event; a list is cycled through."""
    sleep: float = Field(0, ge=0)
    """Seconds to wait between events (0: as fast as the pipeline takes them)."""
    events_count: int = Field(0, ge=0)
    """Stop after this many events (0: never stop)."""

    @field_validator("event")
    @classmethod
    def _not_empty_list(cls, value: Any) -> Any:
        if value == []:
            raise ValueError("give at least one event in the list")
        return value


@register
class Spam(Input[SpamOptions]):
    """Generate events from a string, a dict or a list of them (for tests and benchmarks).

    A string becomes ``data``. A dict's keys are merged into the event: its ``data`` becomes
    ``data`` ('' if absent) and a ``gambolputty`` dict is merged into the metadata (the
    event id stays fresh). Without ``sleep``, events are generated 500 at a time, so
    generating is not a benchmark's bottleneck. When ``events_count`` is reached the input
    ends and, as in GambolPutty, so does the run.
    """

    aliases = ("input.Spam",)
    ends_pipeline = True
    examples = [
        Example(
            options={"event": {"data": "hello", "level": "info"}, "events_count": 2},
            given=[],
            expect=[{"data": "hello", "level": "info"}, {"data": "hello", "level": "info"}],
            note="Two copies of one event; a list of events is cycled through.",
        ),
    ]

    def default_framing(self) -> Framing:
        return Framing(kind="events")

    def _records(self) -> list[bytes]:
        """Each configured event, packed once: generating costs a join, not a pack."""
        entries = self.options.event
        return [pack(entry) for entry in (entries if isinstance(entries, list) else [entries])]

    async def serve(self, emit: Emit) -> None:
        records = itertools.cycle(self._records())
        remaining = self.options.events_count or -1
        sleep = self.options.sleep
        batch_size = 1 if sleep > 0 else BATCH_EVENTS
        while remaining:
            size = batch_size if remaining < 0 else min(batch_size, remaining)
            batch = list(itertools.islice(records, size))
            await emit([Piece("", b"".join(batch), tuple(map(len, batch)))])
            if remaining > 0:
                remaining -= size
            # Also yields to the loop when emit() did not have to wait.
            await asyncio.sleep(sleep)
        self.log.info("%s: sent %d events; done.", self.label, self.options.events_count)
