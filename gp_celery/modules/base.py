"""The module contract: typed options, ``setup()`` once, then whole batches.

Every module family (inputs, parsers, modifiers, sinks, misc) derives from ``Module``. The
runner owns the node keys (``id``, ``filter``, ``receivers``, ...), counting, retries and
dead letters; a module only does its own work on the events it is handed.
"""

from __future__ import annotations

import logging
import time
import typing
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from gp_celery.event import Batch, Event, add_error
from gp_celery.framing import Cutter, Framing, Piece, cutter

Family = Literal["input", "parser", "modifier", "sink", "misc"]

State = Literal["any", "single", "shared"]
"""Where a module's state may live when a fleet runs it in many processes:

- ``any``: no state beyond one batch (or a cache that any process may hold): runs anywhere.
- ``single``: state that must see every event of its stream in one process (a buffer, a
  join): the node needs a queue of its own, served by one worker process.
- ``shared``: state that must be fleet-wide (counters, throttles): it lives in Redis when a
  fleet runs the module, in the process in embedded mode.
"""


class Options(BaseModel):
    """Base of every module's options: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class NoOptions(Options):
    """For modules that take no options of their own."""


OptionsT = TypeVar("OptionsT", bound=Options)


@dataclass(frozen=True)
class Example:
    """A documented example that `gp-celery modules` shows and the test suite runs.

    ``expect`` lists the output events; only the keys named there are compared, plus
    ``event_type`` when given (metadata is compared only where the example names it).
    """

    options: dict[str, Any]
    given: list[Event]
    expect: list[Event]
    event_type: str | None = None
    note: str = ""


@dataclass
class ModuleStats:
    """Counters a module keeps about its own work (`self.stats.incr("cache_hits")`)."""

    counts: Counter[str] = field(default_factory=Counter)

    def incr(self, name: str, amount: int = 1) -> None:
        self.counts[name] += amount


@dataclass
class ModuleContext:
    """What the process that runs a module offers it, set before ``setup()``."""

    redis: Any = None
    """A fleet's Redis client, for state that must be fleet-wide (``state = "shared"``);
    None in embedded mode, where the process is the whole fleet."""
    process: str = ""
    """A name for this process among the fleet's (host:pid), for shared state."""


class OutputClosedError(BrokenPipeError):
    """A sink's destination went away for good: standard output closed by its reader
    (``gp-celery run ... | head``). One process stops, as Unix tools do; a worker
    dead-letters the events instead (its output is an operator's problem, not the end)."""


@dataclass(frozen=True)
class Failure:
    """One item of a sink batch that was not written: its index, why, and whether to retry."""

    index: int
    error: str
    retriable: bool


@dataclass(frozen=True)
class OptionWarning:
    """Valid options that still deserve a warning: where in the node's settings, and why."""

    path: tuple[str | int, ...]
    """Keys and list indexes from the node's settings to the value, e.g.
    ``("field_extraction_patterns", 0, "web")``."""
    message: str


class Module(Generic[OptionsT]):
    """Base of all modules. Subclasses set ``family`` via their family base class."""

    family: ClassVar[Family]
    name: ClassVar[str] = ""
    """YAML name (GambolPutty's), set by @register from the class name."""
    aliases: ClassVar[tuple[str, ...]] = ()
    """Other names accepted in configs, e.g. LumberMill's 'parser.Regex'."""
    options_model: ClassVar[type[Options]] = NoOptions
    examples: ClassVar[list[Example]] = []
    state: ClassVar[State] = "any"
    """Where this module's state may live in a fleet (see ``State``)."""
    stands_alone: ClassVar[bool] = False
    """Outside the event flow (RedisStore): it neither receives nor sends events, and
    other nodes use it by id; the entry after it in the file is not its receiver."""
    own_node_keys: ClassVar[frozenset[str]] = frozenset()
    """Node keys this module takes as its own options (SQS: LumberMill's ``queue`` is the SQS
    queue's name, not a Celery queue); on its nodes they lose their node-key meaning."""

    def __init__(self, options: OptionsT, node_id: str) -> None:
        self.options = options
        self.node_id = node_id
        self.stats = ModuleStats()
        self.failed = 0
        self.context = ModuleContext()
        self._warn_limits: dict[str, tuple[float, int]] = {}
        """Per warn_limited key: when it was last logged, and how many were left out."""
        self.log = logging.getLogger(f"gp_celery.{self.family}.{self.name}")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in getattr(cls, "__orig_bases__", ()):
            args = typing.get_args(base)
            if args and isinstance(args[0], type) and issubclass(args[0], Options):
                cls.options_model = args[0]

    @property
    def label(self) -> str:
        """How logs and errors name this node: ``Type 'id'``, or just ``Type`` when its id
        is one of the module's names (``RegexParser``, LumberMill's ``parser.Regex``)."""
        if self.node_id in (self.name, *self.aliases):
            return self.name
        return f"{self.name} '{self.node_id}'"

    @classmethod
    def option_warnings(cls, options: Any) -> list[OptionWarning]:
        """Valid options that deserve a warning: `check` prints them, `run` logs them once."""
        return []

    def setup(self) -> None:
        """Open clients, load databases, compile what the options did not. Once per process."""

    def process(self, events: Batch) -> Batch:
        """Handle a batch; return what goes on (an event left out is dropped)."""
        return events

    def tick(self, now: float) -> Batch:
        """Periodic work (about once a second); may return new events to send on."""
        return []

    def flush(self) -> Batch:
        """Everything the module still holds (buffered events, a partial summary), handed
        on once when the run ends: after the last tick, before close()."""
        return []

    def reopen(self) -> None:
        """Reopen files this module holds (SIGHUP, after logrotate moved them)."""

    def close(self) -> None:
        """Flush and release what setup() opened. Called once at shutdown."""

    def fail(self, event: Event, reason: str) -> None:
        """Tag an event with a per-event failure; it still goes on."""
        add_error(event, self.node_id, reason)
        self.failed += 1

    def warn_limited(self, key: str, message: str, *args: object, every: float = 10.0) -> None:
        """Log ``label: message % args`` at most once per ``every`` seconds for each ``key``.

        The warnings left out in between are counted, and the next one logged says how
        many. For trouble that repeats per event or per datagram: a disk that stays full,
        a queue that stays full. Keys are the module's own (one per kind of trouble).
        """
        now = time.monotonic()
        limits = self._warn_limits
        last, suppressed = limits.get(key, (float("-inf"), 0))
        if now - last < every:
            limits[key] = (last, suppressed + 1)
            return
        limits[key] = (now, 0)
        if suppressed:
            count = f" ({suppressed} similar warnings suppressed)"
            stop = "." if message.endswith(".") else ""
            message = message.removesuffix(".") + count + stop
        self.log.warning("%s: " + message, self.label, *args)


class Parser(Module[OptionsT]):
    """Turns raw text or bytes into fields."""

    family: ClassVar[Family] = "parser"
    reads_raw_datagrams: ClassVar[bool] = False
    """A parser of binary packets (collectd, NetFlow, gzip): a UdpServer feeding it hands
    each datagram over whole, unstripped, its bytes kept (see config/framing.py)."""


class Modifier(Module[OptionsT]):
    """Adds, changes or removes fields, or drops events."""

    family: ClassVar[Family] = "modifier"


class Misc(Module[OptionsT]):
    """Statistics and other helpers that pass events on."""

    family: ClassVar[Family] = "misc"


class Sink(Module[OptionsT]):
    """Stores events. Never forwards; reports failed items instead of retrying them."""

    family: ClassVar[Family] = "sink"

    def process(self, events: Batch) -> Batch:
        raise TypeError("sinks are written through write(), not process()")

    def write(self, events: Batch) -> list[Failure]:
        """Write a batch in one bulk call; return the items that failed."""
        raise NotImplementedError


class Emit(Protocol):
    """What an input calls with pieces of whole records; awaits while backpressure says stop.

    ``mark``: where the source stands once these pieces are taken (a Redis item, a Kafka
    offset, a file offset). When every piece emitted up to it is delivered (published to
    the broker, or through embedded mode's pipeline), ``Input.delivered(mark)`` is called,
    marks in the order they were emitted; a mark may come with no pieces.
    """

    def __call__(self, pieces: list[Piece], /, mark: object = None) -> Awaitable[None]: ...


class Input(Module[OptionsT]):
    """Receives bytes (transport only). Cutting streams into records, collecting chunks,
    turning records into events and counting are shared by every input."""

    family: ClassVar[Family] = "input"
    ends_pipeline: ClassVar[bool] = False
    """True when the end of this input ends the whole run (StdIn at EOF, as in GambolPutty)."""
    feed_bytes: int = 1 << 16
    """How many received bytes an input hands its cutter at once (where it reads more at a
    time). Pieces this size are what a worker (or embedded mode) decodes at once: events
    made from 64 KiB stay in the CPU cache while the pipeline works on them (pieces of a
    MiB cost workers 18% more per event on p1)."""

    def __init__(self, options: OptionsT, node_id: str) -> None:
        super().__init__(options, node_id)
        self.framing = self.default_framing()
        """How this input's bytes become records; the config may adjust it (see
        ``gp_celery.config.framing_of``)."""

    def default_framing(self) -> Framing:
        """The framing the options ask for."""
        return Framing()

    def cutter(self, received_from: str) -> Cutter:
        """A cutter for one stream (a client connection, stdin)."""
        return cutter(self.framing, received_from)

    async def serve(self, emit: Emit) -> None:
        """Receive until the source ends or the task is cancelled."""
        raise NotImplementedError

    async def delivered(self, mark: object) -> None:
        """Everything emitted up to ``mark`` is delivered: a source that can be told so
        (remove a Redis item, commit a Kafka offset, save a file offset) is told now, so a
        killed process loses nothing and repeats at most what was not yet delivered."""

    def process(self, events: Batch) -> Batch:
        return events
