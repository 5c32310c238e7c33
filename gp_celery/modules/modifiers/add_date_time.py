"""AddDateTime: stamp events with the time (UTC), or re-format the log's own time."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any, Final

from pydantic import BeforeValidator, field_validator, model_validator

from gp_celery.event import MISSING, Batch, Event, field_path
from gp_celery.modules.base import Example, Modifier, Options
from gp_celery.modules.registry import register
from gp_celery.modules.types import FieldName, FieldNames, check_time_format

PARSE_CACHE_SIZE: Final = 4096
"""Distinct time strings remembered; a log repeats each one for a whole second."""
PARSE_CACHE_MAX_CHARS: Final = 256


def _as_tuple(value: Any) -> Any:
    return (value,) if isinstance(value, str) else value


TimeFormats = Annotated[tuple[str, ...], BeforeValidator(_as_tuple)]


class AddDateTimeOptions(Options):
    target_field: FieldName = "@timestamp"
    """Field the time is written to."""
    format: str = "%Y-%m-%dT%H:%M:%S"
    """strftime format of the written time (UTC, no zone suffix unless the format has one)."""
    source_fields: FieldNames | None = None
    """LumberMill: fields holding the log's time; the first one that parses is used."""
    source_formats: TimeFormats | None = None
    """LumberMill: strptime formats tried in order on source_fields (needed with them)."""
    target_format: str | None = None
    """LumberMill's name for 'format'; set one of the two."""

    @field_validator("source_formats")
    @classmethod
    def _check_source_formats(cls, formats: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if formats is not None:
            if not formats:
                raise ValueError("give at least one format")
            for text in formats:
                check_time_format(text)
        return formats

    @model_validator(mode="after")
    def _consistent(self) -> AddDateTimeOptions:
        given = self.model_fields_set
        if "format" in given and "target_format" in given:
            raise ValueError("set 'format' or 'target_format', not both")
        if self.source_fields and not self.source_formats:
            raise ValueError("'source_fields' needs 'source_formats'")
        if self.source_formats and not self.source_fields:
            raise ValueError("'source_formats' needs 'source_fields'")
        return self


@register
class AddDateTime(Modifier[AddDateTimeOptions]):
    """Add a timestamp field: the current UTC time, or the log's own time reformatted.

    Without ``source_fields`` every event gets the current time in UTC formatted with
    ``format``, as in GambolPutty (processing time, no zone suffix; put a literal 'Z' in the
    format for ISO-8601 UTC). Unless the format has '%f', the string is made once per second
    and events of one batch share it. Unlike GambolPutty, ``format`` is not a $(field)
    template.

    With ``source_fields`` (LumberMill's options) the first present field that one of
    ``source_formats`` parses is written with ``target_format`` (or ``format``); a time with
    a zone (%z) is converted to UTC, one without is taken as it is. An event whose source
    fields are present but match no format is tagged; one without them is left alone.
    LumberMill let the last successful parse win; here the first does.
    """

    aliases = ("modifier.AddDateTime",)
    examples = [
        Example(
            options={
                "source_fields": ["datetime"],
                "source_formats": ["%d/%b/%Y:%H:%M:%S %z"],
            },
            given=[{"datetime": "28/Jul/2006:10:27:10 -0300"}],
            expect=[{"@timestamp": "2006-07-28T13:27:10"}],
            note="The log's time, converted to UTC.",
        ),
    ]

    def setup(self) -> None:
        options = self.options
        self._target = field_path(options.target_field)
        self._format = options.target_format or options.format
        self._sub_second = "%f" in self._format.replace("%%", "")
        self._second = -1
        self._stamp = ""
        self._sources = [field_path(name) for name in options.source_fields or ()]
        self._parsed: dict[str, str | None] = {}

    def process(self, events: Batch) -> Batch:
        if self._sources:
            for event in events:
                self._restamp(event)
        elif self._sub_second:
            for event in events:
                self._write(event, datetime.now(UTC).strftime(self._format))
        else:
            stamp = self._now()
            for event in events:
                self._write(event, stamp)
        return events

    def _now(self) -> str:
        now = time.time()
        if int(now) != self._second:
            self._second = int(now)
            self._stamp = datetime.fromtimestamp(self._second, UTC).strftime(self._format)
        return self._stamp

    def _write(self, event: Event, stamp: str) -> None:
        target = self._target
        if len(target.parts) == 1:
            event[target.dotted] = stamp
            return
        try:
            target.set(event, stamp)
        except (TypeError, ValueError, IndexError) as error:
            self.fail(event, f"cannot set {target.dotted!r}: {error}")

    def _restamp(self, event: Event) -> None:
        unparsed = []
        for source in self._sources:
            value = source.get(event)
            if value is MISSING:
                continue
            stamp = self._parse(value) if isinstance(value, str) else None
            if stamp is not None:
                self._write(event, stamp)
                return
            unparsed.append(source.dotted)
        if unparsed:
            self.fail(event, f"no source_formats matched {', '.join(map(repr, unparsed))}")
        else:
            self.stats.incr("missing_source")

    def _parse(self, text: str) -> str | None:
        if text in self._parsed:
            return self._parsed[text]
        stamp = None
        for source_format in self.options.source_formats or ():
            try:
                parsed = datetime.strptime(text, source_format)  # naive is taken as UTC
            except ValueError:
                continue
            if parsed.tzinfo is not None:
                parsed = parsed.astimezone(UTC)
            stamp = parsed.strftime(self._format)
            break
        if len(text) <= PARSE_CACHE_MAX_CHARS:
            if len(self._parsed) >= PARSE_CACHE_SIZE:
                self._parsed.clear()
            self._parsed[text] = stamp
        return stamp
