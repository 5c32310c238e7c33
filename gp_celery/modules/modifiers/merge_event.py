"""MergeEvent: join consecutive events of one stream (multi-line stack traces) into one."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field, model_validator
from redis.exceptions import RedisError

from gp_celery.clock import monotonic_clock, wall_clock
from gp_celery.event import EVENT_ID, META, MISSING, Batch, Event, field_path
from gp_celery.modules.base import Example, Modifier, Options
from gp_celery.modules.modifiers.merge_event_store import BufferStore, Stored
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
    A stopping worker hands its buffers on. In a fleet the open buffers are also kept in
    Redis (one hash per node, written once per batch before the batch goes on), so a worker
    that is killed loses none: the next one starts from them, and leaves out the events of a
    redelivered chunk that a buffer already holds (by event id). In one process without
    Redis, what the buffers held when the process was killed is lost.

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
        self._dirty: set[str] = set()
        """Keys whose buffer changed (or was merged) since the store last saw them."""
        self._held: set[str] = set()
        """Ids of the events in buffers restored at start: a redelivered chunk's copies."""
        self._store: BufferStore | None = None
        if self.context.redis is not None:
            self._store = BufferStore(self.context.redis, self.node_id)
            self._restore(self._store)

    def _restore(self, store: BufferStore) -> None:
        try:
            stored = store.load()
        except RedisError as error:
            self.log.warning(
                "%s: cannot read the buffers a previous worker left in Redis (%s); "
                "starting without them.",
                self.label,
                error,
            )
            return
        for key, buffer in stored.items():
            started = monotonic_clock(buffer.started)
            self._buffers[key] = _Buffer(started, buffer.events, buffer.texts)
            self._held.update(filter(None, map(_event_id, buffer.events)))
        if stored:
            self.stats.incr("restored_events", len(self._held))
            self.log.info(
                "%s: %d buffers (%d events) that a worker left in Redis are open again.",
                self.label,
                len(stored),
                len(self._held),
            )

    def process(self, events: Batch) -> Batch:
        out: Batch = []
        now = time.monotonic()
        for event in events:
            if self._held and _event_id(event) in self._held:  # (None never is)
                self.stats.incr("already_buffered")  # a redelivered chunk: held since before
                continue
            self._take(event, now, out)
        self._save()
        return out

    def _save(self) -> None:
        """Tell the store what changed, before the batch goes on."""
        if self._store is None or not self._dirty:
            return
        changed = {
            key: Stored(wall_clock(buffer.started), buffer.events, buffer.texts)
            for key in self._dirty
            if (buffer := self._buffers.get(key)) is not None
        }
        try:
            self._store.save(changed, self._dirty - changed.keys())
        except RedisError as error:
            self.warn_limited(
                "store",
                "cannot keep the open buffers in Redis (%s); they are kept here and saved "
                "with a later batch, but a crash now would lose them.",
                error,
            )
            return
        except (TypeError, ValueError) as error:
            self.warn_limited(
                "encode", "cannot keep a buffer in Redis (%s); it is kept here only.", error
            )
        self._dirty.clear()

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
        self._dirty.add(key)
        buffer.events.append(event)
        buffer.texts.append(text)
        if len(buffer.events) >= self.options.buffer_size:
            out.append(self._merged(key))

    def _merged(self, key: str) -> Event:
        buffer = self._buffers.pop(key)
        self._dirty.add(key)
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
        merged = [self._merged(key) for key in due]
        self._save()
        return merged

    def flush(self) -> Batch:
        merged = [self._merged(key) for key in list(self._buffers)]
        self._save()
        return merged

    def close(self) -> None:
        if self._buffers:
            held = sum(len(buffer.events) for buffer in self._buffers.values())
            kept = self._store is not None and not self._dirty
            where = " (Redis keeps them for the next worker)" if kept else ""
            self.log.warning(
                "%s: %d buffered events were not handed on%s.", self.label, held, where
            )


def _event_id(event: Event) -> str | None:
    meta = event.get(META)
    event_id = meta.get(EVENT_ID) if isinstance(meta, dict) else None
    return event_id if isinstance(event_id, str) else None
