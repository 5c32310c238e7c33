"""DateTimeParser: a time string in one format and zone into another."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from typing import Annotated, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field

from gp_celery.event import Batch, field_path
from gp_celery.modules.base import Example, Options, Parser
from gp_celery.modules.parsers.text import text_of
from gp_celery.modules.registry import register
from gp_celery.modules.types import FieldName, TimeFormat

MAX_TIME_CHARS: Final = 256
"""Longer values are not time strings; they are tagged without parsing or caching."""


def time_zone(name: str) -> tzinfo:
    """'utc' in any case, or an IANA name such as 'Europe/Berlin'."""
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        hint = "use an IANA name such as 'Europe/Berlin'"
        raise ValueError(f"unknown time zone {name!r} ({hint})") from None


def _check_zone(name: str) -> str:
    time_zone(name)
    return name


TimeZone = Annotated[str, AfterValidator(_check_zone)]


class DateTimeParserOptions(Options):
    source_field: FieldName
    """Required. Field holding the time string."""
    source_date_pattern: TimeFormat
    """Required. strptime format of the source, e.g. '%d/%b/%Y:%H:%M:%S %z'."""
    source_timezone: TimeZone = "utc"
    """Zone of source times that carry no offset of their own."""
    target_field: FieldName | None = None
    """Field for the result; None replaces the source."""
    target_date_pattern: TimeFormat
    """Required. strftime format of the result, e.g. '%Y-%m-%dT%H:%M:%S%z'."""
    target_timezone: TimeZone = "utc"
    """Zone the result is given in."""
    cache_size: int = Field(default=4096, ge=0)
    """Distinct time strings remembered (a log repeats each for a second); 0: none."""


@register
class DateTimeParser(Parser[DateTimeParserOptions]):
    """Re-format a time string: parse with one pattern and zone, write with another.

    The source is parsed with ``datetime.strptime(source_date_pattern)``, as in
    LumberMill. A time without an offset is taken to be in source_timezone; one that has
    its own (``%z`` in the pattern, e.g. ``-0300``) keeps it and source_timezone is
    ignored. The time is converted to target_timezone and written with
    ``target_date_pattern``. An ambiguous or missing local time (daylight saving changes)
    is read as the earlier of the two readings (``fold=0``).

    Differences from LumberMill: zones are IANA names read with the standard library's
    zoneinfo (pytz is not needed; 'utc' in any case works); an unknown zone or a bad
    pattern stops the config at load instead of at run time. A value that does not match
    the pattern, is not text, is invalid UTF-8 or is over 256 characters tags the event,
    which goes on unchanged (LumberMill only logged a warning). An event without the source
    field goes on untouched. Results for the last cache_size distinct strings are cached.
    """

    aliases = ("parser.DateTime",)
    examples = [
        Example(
            options={
                "source_field": "date",
                "source_date_pattern": "%d/%b/%Y",
                "target_date_pattern": "%d-%b-%Y",
            },
            given=[{"date": "13/Sep/2017"}],
            expect=[{"date": "13-Sep-2017"}],
        ),
        Example(
            options={
                "source_field": "datetime",
                "source_date_pattern": "%d/%b/%Y:%H:%M:%S %z",
                "target_field": "@timestamp",
                "target_date_pattern": "%Y-%m-%dT%H:%M:%SZ",
            },
            given=[{"datetime": "28/Jul/2006:10:27:10 -0300"}],
            expect=[{"@timestamp": "2006-07-28T13:27:10Z"}],
            note="The time's own offset wins over source_timezone.",
        ),
        Example(
            options={
                "source_field": "t",
                "source_date_pattern": "%Y-%m-%d %H:%M",
                "source_timezone": "Europe/Berlin",
                "target_date_pattern": "%Y-%m-%d %H:%M %Z",
            },
            given=[{"t": "2024-07-01 12:00"}],
            expect=[{"t": "2024-07-01 10:00 UTC"}],
        ),
    ]

    def setup(self) -> None:
        options = self.options
        self._source = field_path(options.source_field)
        self._target = field_path(options.target_field or options.source_field)
        self._from = time_zone(options.source_timezone)
        self._to = time_zone(options.target_timezone)
        self._convert = lru_cache(maxsize=options.cache_size)(self._reformat)

    def process(self, events: Batch) -> Batch:
        for event in events:
            text = text_of(self, event, self._source)
            if text is None:
                continue
            if len(text) > MAX_TIME_CHARS:
                self.fail(event, f"'{self._source.dotted}' is over {MAX_TIME_CHARS} characters")
                continue
            result = self._convert(text)
            if result.startswith("\x00"):  # an error, marked so it can be cached
                self.fail(event, f"'{self._source.dotted}' {result[1:]}")
                continue
            self._target.set(event, result)
        return events

    def _reformat(self, text: str) -> str:
        """The converted time, or NUL and the reason it failed."""
        options = self.options
        try:
            parsed = datetime.strptime(text, options.source_date_pattern)
        except ValueError:
            return f"\x00{text[:40]!r} does not match {options.source_date_pattern!r}"
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=self._from)
        try:
            return parsed.astimezone(self._to).strftime(options.target_date_pattern)
        except (OverflowError, ValueError) as error:
            return f"\x00{text[:40]!r} cannot be converted: {error}"
