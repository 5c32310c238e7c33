"""MergeEvent: join consecutive events of one stream (multi-line stack traces) into one."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field, model_validator

from gp_celery.event import MISSING, Batch, Event, field_path
from gp_celery.modules.base import Example, Modifier, Options
from gp_celery.modules.registry import register
from gp_celery.modules.types import FieldName, Regex, Template


class MergeEventOptions(Options):
    buffer_key: Template = Field(
        default="$(gambolputty.received_from)",  # compiled by validate_default
        validate_default=True,
    )
    """Events are merged per key: the stream they came in ($(field) rendered per event)."""
    buffer_size: int = Field(default=100, ge=1, le=100_000)
    """Most events merged into one; a full buffer is merged at once."""
    flush_interval_in_secs: float | None = Field(default=1, gt=0)
    """A buffer older than this is merged (about once a second); None: only by pattern."""
    pattern: Regex | None = None
    """Regex on match_field marking where an event starts (or ends, see pattern_marks)."""
    pattern_marks: Literal["StartOfEvent", "EndOfEvent"] = "StartOfEvent"
    """LumberMill: whether pattern marks the first or the last line of an event."""
    match_field: FieldName = "data"
    """The text matched and joined."""
    glue: str = ""
    """Put between the joined texts (e.g. a newline)."""
    max_keys: int = Field(default=10_000, ge=1)
    """Most buffers open at once; one more merges the longest-unused buffer first."""

    @model_validator(mode="after")
    def _consistent(self) -> MergeEventOptions:
        if self.pattern is None and self.flush_interval_in_secs is None:
            raise ValueError("set 'pattern' or 'flush_interval_in_secs' (or both)")
        if self.pattern is None and self.pattern_marks == "EndOfEvent":
            raise ValueError("'pattern_marks: EndOfEvent' needs 'pattern'")
        return self


@dataclass
class _Buffer:
    started: float
    events: list[Event] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)


@register
class MergeEvent(Modifier[MergeEventOptions]):
    """Merge consecutive events of one stream into one, e.g. multi-line stack traces.

    Events are buffered per ``buffer_key`` (by default the connection or file they came
    from). With ``pattern`` (``pattern_marks: StartOfEvent``, the default), an event whose
    ``match_field`` matches starts a new buffer (the previous one is merged), an event that
    does not match joins the open buffer, and one that does not match while no buffer is
    open goes on as it is. With ``EndOfEvent`` a matching event closes its buffer. Without
    a pattern every event of a key joins its buffer. A buffer is also merged when it holds
    ``buffer_size`` events, when it is older than ``flush_interval_in_secs``, when
    ``max_keys`` buffers are open and a new key comes (the longest-unused is merged), and
    at the end of the run. The merged event is the first event with ``match_field`` set to
    the buffered texts joined with ``glue``.

    An event whose ``match_field`` is missing goes on as it is (counted as
    ``missing_source``); one whose ``match_field`` is not text is tagged and goes on.

    State: the buffers must see their stream in order, in one process, so in a fleet the
    node needs a queue of its own served by one worker process (``gp-celery check`` says
    so; ``gp-celery run --workers N`` does it by itself). Give the input the same
    ``queue`` and put MergeEvent right after it: then that one process also cuts the
    stream into events, in order (the input's chunks framed by a pool of processes can
    arrive out of order, and a multi-line event split between two chunks would break).
    A stopping worker hands its buffers on; a worker that crashes loses what its buffers
    held (at most max_keys x buffer_size events, for flush_interval_in_secs).

    Differences from GambolPutty: the time limit is the age of a buffer (GambolPutty flushed
    on a timer, whatever the age); ``max_keys`` and the tag for text that is not text are
    new; ``pattern_marks`` is LumberMill's; Logstash ``%{NAME}`` patterns are not expanded
    (write the regex).
    """

    aliases = ("modifier.MergeEvent",)
    state = "single"
    examples = [
        Example(
            options={"pattern": "^\\S", "glue": "\n", "buffer_key": "$(host)"},
            given=[
                {"host": "a", "data": "Traceback (most recent call last):"},
                {"host": "a", "data": "  File 'x.py', line 1"},
                {"host": "a", "data": "ValueError: boom"},
            ],
            expect=[
                {"host": "a", "data": "Traceback (most recent call last):\n  File 'x.py', line 1"}
            ],
            note="The last line starts the next event; it is merged when the next event "
            "starts, after flush_interval_in_secs, or at the end of the run.",
        ),
    ]

    def setup(self) -> None:
        self._match = field_path(self.options.match_field)
        self._buffers: OrderedDict[str, _Buffer] = OrderedDict()
        self._ends = self.options.pattern_marks == "EndOfEvent"

    def process(self, events: Batch) -> Batch:
        out: Batch = []
        now = time.monotonic()
        for event in events:
            self._take(event, now, out)
        return out

    def _take(self, event: Event, now: float, out: Batch) -> None:
        text = self._match.get(event)
        if text is MISSING:
            self.stats.incr("missing_source")
            out.append(event)
            return
        if not isinstance(text, str):
            self.fail(event, f"{self._match.dotted!r} is a {type(text).__name__}, not text")
            out.append(event)
            return
        key = self.options.buffer_key.render(event)
        pattern = self.options.pattern
        matched = pattern is not None and pattern.search(text) is not None
        if self._ends:
            self._append(key, event, text, now, out)
            if matched:
                out.append(self._merged(key))
            return
        if matched:
            if key in self._buffers:
                out.append(self._merged(key))
        elif pattern is not None and key not in self._buffers:
            out.append(event)  # no event open for this stream: nothing to join it to
            return
        self._append(key, event, text, now, out)

    def _append(self, key: str, event: Event, text: str, now: float, out: Batch) -> None:
        buffer = self._buffers.get(key)
        if buffer is None:
            if len(self._buffers) >= self.options.max_keys:
                oldest = next(iter(self._buffers))
                self.stats.incr("merged_for_max_keys")
                out.append(self._merged(oldest))
            buffer = self._buffers[key] = _Buffer(now)
        else:
            self._buffers.move_to_end(key)
        buffer.events.append(event)
        buffer.texts.append(text)
        if len(buffer.events) >= self.options.buffer_size:
            out.append(self._merged(key))

    def _merged(self, key: str) -> Event:
        buffer = self._buffers.pop(key)
        first = buffer.events[0]
        if len(buffer.events) > 1:
            self._match.set(first, self.options.glue.join(buffer.texts))
            self.stats.incr("merged", len(buffer.events))
        return first

    def tick(self, now: float) -> Batch:
        limit = self.options.flush_interval_in_secs
        if limit is None:
            return []
        due = [key for key, buffer in self._buffers.items() if now - buffer.started >= limit]
        return [self._merged(key) for key in due]

    def flush(self) -> Batch:
        return [self._merged(key) for key in list(self._buffers)]

    def close(self) -> None:
        if self._buffers:
            held = sum(len(buffer.events) for buffer in self._buffers.values())
            self.log.warning("%s: %d buffered events were not handed on.", self.label, held)
