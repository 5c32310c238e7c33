"""Spam: generate test events, as fast as possible or at a given pace."""

from __future__ import annotations

import asyncio
import copy
import itertools
from collections.abc import Callable
from typing import Any, Final

from pydantic import Field, field_validator

from gp_celery.event import DATA, EVENT_ID, META, Event, metadata, new_event
from gp_celery.modules.base import Emit, Input, Options
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
    event id stays fresh). Without ``sleep``, events are emitted in batches of up to 500 per
    await, so generating is not the benchmark's bottleneck. When ``events_count`` is reached
    ``serve()`` returns and, as in GambolPutty, the run ends.
    """

    aliases = ("input.Spam",)
    ends_pipeline = True

    def _factories(self) -> list[Callable[[], Event]]:
        entries = self.options.event
        return [
            self._factory(entry) for entry in (entries if isinstance(entries, list) else [entries])
        ]

    def _factory(self, entry: str | dict[str, Any]) -> Callable[[], Event]:
        name = self.name
        if isinstance(entry, str):
            return lambda: new_event(entry, name)
        fields = {key: value for key, value in entry.items() if key not in (DATA, META)}
        meta = entry.get(META) if isinstance(entry.get(META), dict) else {}
        data = entry.get(DATA, "")
        nested = any(isinstance(value, (dict, list)) for value in (data, *fields.values()))

        def make() -> Event:
            event = new_event(copy.deepcopy(data) if nested else data, name)
            event.update(copy.deepcopy(fields) if nested else fields)
            if meta:
                metadata(event).update(
                    copy.deepcopy({k: v for k, v in meta.items() if k != EVENT_ID})
                )
            return event

        return make

    async def serve(self, emit: Emit) -> None:
        factories = itertools.cycle(self._factories())
        remaining = self.options.events_count or -1
        sleep = self.options.sleep
        batch_size = 1 if sleep > 0 else BATCH_EVENTS
        while remaining:
            size = batch_size if remaining < 0 else min(batch_size, remaining)
            await emit([make() for make in itertools.islice(factories, size)])
            if remaining > 0:
                remaining -= size
            # Also yields to the loop when emit() did not have to wait.
            await asyncio.sleep(sleep)
        self.log.info("%s: sent %d events; done.", self.label, self.options.events_count)
