"""LineParser: one event per part of a field split at a separator."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from gp_celery.event import MISSING, Batch, Event, copy_event, field_path
from gp_celery.modules.base import Example, Parser
from gp_celery.modules.registry import register
from gp_celery.modules.types import FieldName, FieldNames, SpelledOptions


class LineParserOptions(SpelledOptions):
    source_fields: FieldNames = Field(
        default=("data",), validation_alias=AliasChoices("source_fields", "source_field")
    )
    """Field or list of fields to split (default 'data'); LumberMill: 'source_field'."""
    seperator: str = Field(default="\n", min_length=1)
    """Where to split (GambolPutty's spelling; default a newline)."""
    target_field: FieldName = "data"
    """Field each part is written to (default 'data')."""
    keep_original: bool = False
    """Keep the source fields in every part's event (default False)."""


@register
class LineParser(Parser[LineParserOptions]):
    """Split a field at a separator and emit one event per part.

    The first part reuses the event; each further part goes into a copy with a derived id.
    Empty parts (a trailing separator, say) make events with an empty target, as in
    GambolPutty. Bytes are split at the UTF-8 encoded separator and stay bytes. With several
    source fields, the parts of all present fields, in order, make the events, and every
    source is removed first unless keep_original.

    LumberMill's ``source_field`` is accepted for ``source_fields`` (giving both is an error).
    LumberMill's own code put the list of parts into the target field of one event; this
    follows its documentation (and GambolPutty): one event per part.

    An event without any source field goes on unchanged (GambolPutty dropped it);
    ``missing_source`` counts them. A source that is neither text nor bytes tags the event,
    which goes on with that field in place.
    """

    aliases = ("parser.Line",)
    examples = [
        Example(
            options={"seperator": "|"},
            given=[{"data": "message-a|message-b|message-c"}],
            expect=[{"data": "message-a"}, {"data": "message-b"}, {"data": "message-c"}],
        ),
        Example(
            options={"source_fields": "raw", "target_field": "line"},
            given=[{"raw": "one\ntwo"}],
            expect=[{"line": "one"}, {"line": "two"}],
        ),
    ]

    def setup(self) -> None:
        self._sources = tuple(field_path(name) for name in self.options.source_fields)
        self._target = field_path(self.options.target_field)
        self._separator = self.options.seperator
        self._separator_bytes = self._separator.encode("utf-8")

    def process(self, events: Batch) -> Batch:
        out: Batch = []
        for event in events:
            parts = self._parts(event)
            if parts is None:
                out.append(event)
                continue
            target = self._target
            target.set(event, parts[0])
            out.append(event)
            for branch, part in enumerate(parts[1:], start=1):
                copy = copy_event(event, branch)
                target.set(copy, part)
                out.append(copy)
        return out

    def _parts(self, event: Event) -> list[str | bytes] | None:
        """Split every present source (removing it unless keep_original); None if none."""
        parts: list[str | bytes] = []
        found = False
        for path in self._sources:
            value = path.get(event)
            if value is MISSING:
                continue
            found = True
            if isinstance(value, str):
                pieces: list[str] | list[bytes] = value.split(self._separator)
            elif isinstance(value, (bytes, bytearray, memoryview)):
                pieces = bytes(value).split(self._separator_bytes)
            else:
                self.fail(event, f"'{path.dotted}' is {type(value).__name__}, not text")
                continue
            if not self.options.keep_original:
                path.delete(event)
            parts.extend(pieces)
        if not found:
            self.stats.incr("missing_source")
        return parts or None
