"""`gp-celery check --samples LOGFILE`: sample lines through the parsers, per parser node
how many matched, which event types they got, and up to five lines that did not match.

The file is read as an input receives it: in pieces of 64 KiB through the framing of the
input (``--input``, default the first; no input: lines), so a file of any size takes
bounded memory and a line over the input's limit is tagged as it would be in a run.
Events run through the real nodes, sinks excepted (nothing is written), and nodes after
which no parser follows are not built at all (an Elasticsearch at the end is never asked).

"Matched", per parser node, is honest about what a parser can tell: an event the node
handled (its filter passed) that the node did not tag with an error (``gambolputty.errors``
naming that node: malformed input, wrong type, too long), and, for a parser that marks
events it could not parse (``mark_unmatched_as``: RegexParser), whose event type is not
that mark. Events the node dropped count as dropped. A parser that accepts any text (a
LineParser, a KeyValueParser finding no pairs) matches everything; the event types show
what it made of them.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Final

from gp_celery.config import NodeSpec, PipelineConfig
from gp_celery.event import (
    DATA,
    EVENT_ID,
    Batch,
    Event,
    FieldPath,
    errors_of,
    event_type,
    field_path,
    metadata,
)
from gp_celery.framing import Chunk, Framing, cutter, decode_chunk
from gp_celery.framing.spec import Piece
from gp_celery.modules.base import Input
from gp_celery.pipeline import Pipeline, PlannedModuleError
from gp_celery.pipeline.node import Node

EXIT_OK, EXIT_CONFIG, EXIT_RUNTIME = 0, 1, 2
READ_BYTES: Final = 64 << 10
EXAMPLES: Final = 5
"""Unmatched lines kept per parser (the first ones)."""
MAX_TYPES: Final = 50
"""Distinct event types counted per parser; more are counted as 'other types'."""
SHOWN_CHARS: Final = 160


class SamplesError(ValueError):
    """The samples cannot go through this config (no parser, an unknown input ...)."""


@dataclass
class ParserReport:
    node: NodeSpec
    handled: int = 0
    matched: int = 0
    unmatched: int = 0
    tagged: int = 0
    dropped: int = 0
    no_source: int = 0
    bypassed: int = 0
    types: Counter[str] = field(default_factory=Counter)
    other_types: int = 0
    examples: list[tuple[int, str, str]] = field(default_factory=list)
    """(record number, the record as read, why it did not match)."""

    def add_type(self, name: str) -> None:
        if name in self.types or len(self.types) < MAX_TYPES:
            self.types[name] += 1
        else:
            self.other_types += 1


def _upstream_of_parsers(config: PipelineConfig) -> list[NodeSpec]:
    """Inputs, parsers and every node a parser follows: what the samples need to run."""
    needed = {node.id for node in config.nodes if node.family == "parser"}
    for node in reversed(config.order):
        if any(receiver.target in needed for receiver in node.receivers or []):
            needed.add(node.id)
    return [node for node in config.order if node.id in needed or node.family == "input"]


class SampleRun:
    def __init__(self, config: PipelineConfig, input_id: str | None = None) -> None:
        if not any(node.family == "parser" for node in config.nodes):
            raise SamplesError(f"{config.file} has no parser to try the samples on")
        inputs = [node for node in config.order if node.family == "input"]
        if input_id is not None and input_id not in {node.id for node in inputs}:
            names = ", ".join(node.id for node in inputs) or "none"
            raise SamplesError(f"no input '{input_id}' in {config.file} (inputs: {names})")
        self.config = config
        self.pipeline = Pipeline(config, _upstream_of_parsers(config))
        self.entry = input_id or (inputs[0].id if inputs else config.order[0].id)
        module = self.pipeline.nodes[self.entry].module
        self.framing = module.framing if isinstance(module, Input) else Framing()
        if self.framing.kind == "events":
            raise SamplesError(f"input '{self.entry}' generates its own events; pick another")
        self.reports = {
            node.id: ParserReport(node.spec) for node in self.pipeline.order if _is_parser(node)
        }
        self.records = 0

    def read(self, stream: IO[bytes], limit: int | None = None) -> None:
        """Run the stream's records (at most ``limit``) through the parsers."""
        name = self.config.node(self.entry).type_name
        try:
            for pieces in self._pieces(stream):
                events = decode_chunk(Chunk(self.entry, name, self.framing, pieces)).events
                if limit is not None:
                    events = events[: max(0, limit - self.records)]
                self._run(events)
                if limit is not None and self.records >= limit:
                    break
        finally:
            self.pipeline.close()

    def _pieces(self, stream: IO[bytes]) -> Iterator[list[Piece]]:
        if self.framing.kind == "datagram":
            yield from self._datagrams(stream)
            return
        cut = cutter(self.framing, "samples")
        while block := stream.read(READ_BYTES):
            if pieces := cut.feed(block):
                yield pieces
        if pieces := cut.close():
            yield pieces

    def _datagrams(self, stream: IO[bytes]) -> Iterator[list[Piece]]:
        """A file of datagrams, one a line. A line longer than a datagram may be is cut one
        byte over the limit (so decoding tags it as overlong) and the rest skipped unread
        into memory."""
        most = self.framing.max_record_bytes + 1
        while line := stream.readline(most):
            if not line.endswith(b"\n"):
                while (rest := stream.readline(READ_BYTES)) and not rest.endswith(b"\n"):
                    pass
            record = line.rstrip(b"\r\n")
            yield [Piece("samples", record, (len(record),))]

    def _run(self, events: Batch) -> None:
        origin: dict[str, tuple[int, Any]] = {}
        for event in events:
            self.records += 1
            origin[str(metadata(event).get(EVENT_ID))] = (self.records, event.get(DATA))
        inbox: dict[str, Batch] = {self.entry: events}
        for node in self.pipeline.order:
            batch = inbox.pop(node.id, None)
            if not batch:
                continue
            passing, bypass = node.split_by_filter(batch)
            sourceless = _without_source(node, passing)
            handled = node.run_module(passing) if passing else passing
            report = self.reports.get(node.id)
            if report is not None:
                report.bypassed += len(bypass)
                self._observe(report, len(passing), handled, origin, sourceless)
            node.route(handled, True, inbox)
            node.route(bypass, False, inbox)

    def _observe(
        self,
        report: ParserReport,
        handled: int,
        out: Batch,
        origin: dict[str, Any],
        sourceless: set[int],
    ) -> None:
        report.handled += handled
        report.dropped += max(0, handled - len(out))
        unmatched_as = getattr(report.node.options, "mark_unmatched_as", None)
        for event in out:
            reasons = [
                str(e.get("reason")) for e in errors_of(event) if e.get("node") == report.node.id
            ]
            if id(event) in sourceless and not reasons:
                report.no_source += 1
            elif reasons:
                report.tagged += 1
                self._example(report, event, origin, reasons[0])
            elif unmatched_as is not None and event_type(event) == unmatched_as:
                report.unmatched += 1
                self._example(report, event, origin, f"marked {unmatched_as}")
            else:
                report.matched += 1
                report.add_type(str(event_type(event)))

    @staticmethod
    def _example(report: ParserReport, event: Event, origin: dict[str, Any], why: str) -> None:
        if len(report.examples) >= EXAMPLES:
            return
        event_id = str(metadata(event).get(EVENT_ID))
        number, data = origin.get(event_id) or origin.get(
            event_id.split(".", maxsplit=1)[0], (0, None)
        )
        shown = data if data is not None else event.get(DATA)
        report.examples.append((number, _short(shown), why))


def _source_paths(node: Node) -> list[FieldPath]:
    """The fields a parser reads (``source_field`` or ``source_fields``), when it names them."""
    options = node.spec.options
    one, many = getattr(options, "source_field", None), getattr(options, "source_fields", None)
    names = [one] if isinstance(one, str) else list(many) if isinstance(many, tuple | list) else []
    return [field_path(name) for name in names if isinstance(name, str)]


def _without_source(node: Node, events: Batch) -> set[int]:
    """Identities of the events that hold none of the fields the parser reads: most parsers
    pass them on untouched and untagged, which is not a match."""
    if not _is_parser(node):
        return set()
    paths = _source_paths(node)
    if not paths:
        return set()
    return {id(event) for event in events if not any(path.exists(event) for path in paths)}


def _is_parser(node: Node) -> bool:
    return node.spec.family == "parser"


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."


def _counts(report: ParserReport) -> str:
    if not report.handled:
        bypassed = f" ({report.bypassed} bypassed it: its filter)" if report.bypassed else ""
        return f"no events reached it{bypassed}"
    parts = [
        f"{count} {what}"
        for count, what in (
            (report.unmatched, "unmatched"),
            (report.tagged, "tagged with an error"),
            (report.dropped, "dropped"),
            (report.no_source, f"without {_source_name(report.node)}"),
            (report.bypassed, "bypassed it (its filter)"),
        )
        if count
    ]
    matched = f"{report.matched} of {report.handled} matched"
    return f"{matched} ({_percent(report.matched, report.handled)})" + "".join(
        f"; {part}" for part in parts
    )


def _source_name(node: NodeSpec) -> str:
    options = node.options
    one, many = getattr(options, "source_field", None), getattr(options, "source_fields", None)
    if isinstance(one, str):
        return f"'{one}'"
    if isinstance(many, tuple | list) and len(many) == 1:
        return f"'{many[0]}'"
    if isinstance(many, tuple | list):
        return "any of " + ", ".join(f"'{name}'" for name in many)
    return "its source"


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def report_lines(run: SampleRun, name: str) -> list[str]:
    """What `check --samples` prints under the check."""
    what = run.framing.what + "s" if run.framing.kind != "stream" else "reads"
    lines = [f"samples: {name}: {run.records} records ({what} of input '{run.entry}')"]
    if not run.records:
        lines.append("  the file holds no records")
    for report in run.reports.values():
        node = report.node
        label = node.id if node.id == node.type_name else f"{node.id} ({node.type_name})"
        lines.append(f"  {label}: {_counts(report)}")
        if report.types:
            shown = ", ".join(f"{kind} {count}" for kind, count in report.types.most_common())
            other = f", other types {report.other_types}" if report.other_types else ""
            lines.append(f"    event types: {shown}{other}")
        for number, text, why in report.examples:
            lines.append(f"    not matched, record {number} ({why}): {text}")
    return lines


def check_samples(
    config: PipelineConfig, path: str, input_id: str | None, limit: int | None
) -> int:
    """Read ``path`` ('-': stdin) through the config's parsers and print the report; the
    exit status: 0, 1 (samples cannot go through this config), 2 (the file cannot be read)."""
    try:
        run = SampleRun(config, input_id)
    except (SamplesError, PlannedModuleError) as error:
        print(f"gp-celery check --samples: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as error:  # a module's setup: a database file missing, a port ...
        print(f"gp-celery check --samples: {error}", file=sys.stderr)
        return EXIT_RUNTIME
    try:
        if path == "-":
            run.read(sys.stdin.buffer, limit)
        else:
            with open(path, "rb") as stream:
                run.read(stream, limit)
    except OSError as error:
        print(f"gp-celery check --samples: cannot read {path}: {error}", file=sys.stderr)
        return EXIT_RUNTIME
    print("\n".join(report_lines(run, path)))
    return EXIT_OK
