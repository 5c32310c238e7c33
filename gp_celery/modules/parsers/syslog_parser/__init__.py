"""SyslogParser: RFC 3164 and RFC 5424 syslog messages into syslog_* fields."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, tzinfo
from typing import Any, ClassVar, Literal

from pydantic import field_validator

from gp_celery.event import Batch, Event, field_path
from gp_celery.modules.base import Example, Options, Parser, State
from gp_celery.modules.parsers.syslog_names import FACILITIES, SEVERITIES
from gp_celery.modules.parsers.syslog_parser.common import MAX_PRI, SyslogError
from gp_celery.modules.parsers.syslog_parser.rfc3164 import Clock, parse_rfc3164
from gp_celery.modules.parsers.syslog_parser.rfc5424 import parse_rfc5424
from gp_celery.modules.parsers.text import as_text
from gp_celery.modules.registry import register
from gp_celery.modules.types import FieldName

PREFIX = "syslog_"


class SyslogParserOptions(Options):
    source_field: FieldName = "data"
    """Field holding the syslog message (text, or UTF-8 bytes)."""
    format: Literal["auto", "rfc3164", "rfc5424"] = "auto"
    """auto: RFC 5424 if the text starts '<PRI>1 ', else RFC 3164; or one format only."""
    timezone: str = "UTC"
    """Zone of RFC 3164 timestamps (they carry none): 'UTC', 'local' or an IANA name."""
    map_values: bool = True
    """Also write syslog_facility_name and syslog_severity_name."""
    facility_mappings: dict[int, str] = {}
    """Facility number -> name, merged over the standard names (as SyslogPrivalParser)."""
    severity_mappings: dict[int, str] = {}
    """Severity number -> name, merged over the standard names."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value not in ("UTC", "local"):
            try:
                zoneinfo.ZoneInfo(value)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"unknown time zone {value!r} (use 'UTC', 'local' or an IANA name "
                    "such as 'Europe/Berlin')"
                ) from None
        return value


@register
class SyslogParser(Parser[SyslogParserOptions]):
    """Parse an RFC 3164 or RFC 5424 syslog message into syslog_* fields.

    Fields written (each only when the message has it; RFC 5424's '-' leaves it out):
    ``syslog_pri``, ``syslog_facility`` and ``syslog_severity`` (numbers),
    ``syslog_facility_name`` and ``syslog_severity_name`` (with ``map_values``; names as
    SyslogPrivalParser's), ``syslog_version`` (RFC 5424 only), ``syslog_timestamp`` (ISO
    8601 with the offset), ``syslog_hostname``, ``syslog_appname``, ``syslog_procid``,
    ``syslog_msgid``, ``syslog_sd`` (structured data as ``{sd_id: {param: value}}``, a
    repeated parameter as a list of its values) and ``syslog_message`` (without a leading
    byte order mark). The source field is kept.

    RFC 5424 timestamps keep their own offset ('Z' becomes +00:00; a leap second 60 is
    read as 59). RFC 3164 timestamps have no year and no zone: they are read in
    ``timezone`` (default UTC, not the worker's local zone, so every worker of a fleet
    reads them alike; 'local' is the process's zone), and the year is the one that puts
    them closest to now but at most a day ahead, so December's messages read in January
    get last year; a fraction of a second after them is kept, and an RFC 3339 timestamp
    in their place (rsyslog's forwarding format) is read as in RFC 5424. Without a
    hostname (``<13>Dec  1 10:00:00 app[42]: hi``) the first word, followed directly by
    '[' or ':', is the app name.

    A message that is not syslog of the expected format (no ``<PRI>``, a PRI above 191,
    a bad timestamp, broken structured data) is tagged with the reason and goes on
    unchanged; so is a missing or non-text source field. Bytes are decoded as UTF-8;
    invalid UTF-8 is parsed with U+FFFD in its place and the event is tagged. Parsing is
    linear in the message's size. New in gp-celery: GambolPutty had only
    SyslogPrivalParser and regexes.
    """

    state: ClassVar[State] = "any"
    examples = [
        Example(
            options={},
            given=[{"data": "<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed"}],
            expect=[
                {
                    "syslog_pri": 34,
                    "syslog_facility": 4,
                    "syslog_severity": 2,
                    "syslog_facility_name": "security/authorization",
                    "syslog_severity_name": "Critical",
                    "syslog_hostname": "mymachine",
                    "syslog_appname": "su",
                    "syslog_procid": "230",
                    "syslog_message": "'su root' failed",
                }
            ],
            note="RFC 3164; syslog_timestamp is in the year that puts it closest to now.",
        ),
        Example(
            options={"map_values": False},
            given=[
                {
                    "data": "<165>1 2003-10-11T22:14:15.003Z host.example.com evntslog - "
                    'ID47 [exampleSDID@32473 iut="3" eventSource="Application"] An event'
                }
            ],
            expect=[
                {
                    "syslog_pri": 165,
                    "syslog_facility": 20,
                    "syslog_severity": 5,
                    "syslog_version": 1,
                    "syslog_timestamp": "2003-10-11T22:14:15.003000+00:00",
                    "syslog_hostname": "host.example.com",
                    "syslog_appname": "evntslog",
                    "syslog_msgid": "ID47",
                    "syslog_sd": {"exampleSDID@32473": {"iut": "3", "eventSource": "Application"}},
                    "syslog_message": "An event",
                }
            ],
            note="RFC 5424 with structured data; the procid '-' is left out.",
        ),
    ]

    def setup(self) -> None:
        options = self.options
        self._path = field_path(options.source_field)
        self._zone = _zone(options.timezone)
        self.now: Clock = _utc_now
        """The clock RFC 3164 years are inferred from (a test may set another)."""
        self._facilities = {**FACILITIES, **options.facility_mappings}
        self._severities = {**SEVERITIES, **options.severity_mappings}

    def process(self, events: Batch) -> Batch:
        now = self.now()  # once per batch: a batch takes milliseconds, the year a day's slack
        for event in events:
            text = self._text_of(event)
            if text is None:
                continue
            try:
                fields = self._parse(text, now)
            except SyslogError as error:
                self.fail(event, f"'{self.options.source_field}' {error}")
                continue
            event.update(fields)
        return events

    def _parse(self, text: str, now: datetime) -> dict[str, Any]:
        form = self.options.format
        if form == "rfc5424" or (form == "auto" and _looks_like_5424(text)):
            parsed = parse_rfc5424(text)
        else:
            parsed = parse_rfc3164(text, self._zone, now)
        pri = parsed["pri"]
        if pri > MAX_PRI:
            raise SyslogError(f"has a PRI of {pri}, above {MAX_PRI}")
        fields = {f"{PREFIX}{name}": value for name, value in parsed.items()}
        fields[PREFIX + "facility"], fields[PREFIX + "severity"] = divmod(pri, 8)
        if self.options.map_values:
            fields[PREFIX + "facility_name"] = self._facilities.get(pri >> 3, str(pri >> 3))
            fields[PREFIX + "severity_name"] = self._severities.get(pri & 7, str(pri & 7))
        return fields

    def _text_of(self, event: Event) -> str | None:
        """The source value as text, or None after tagging the event."""
        value = self._path.get(event)
        return as_text(self, event, self.options.source_field, value, lossy="parsed")


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _zone(name: str) -> tzinfo | None:
    """The zone of RFC 3164 timestamps; None is the process's local zone."""
    if name == "local":
        return None
    return UTC if name == "UTC" else zoneinfo.ZoneInfo(name)


def _looks_like_5424(text: str) -> bool:
    """'<PRI>1 ': the version RFC 5424 puts where RFC 3164 has the month."""
    end = text.find(">", 1, 5)
    return text.startswith("<") and end > 0 and text.startswith("1 ", end + 1)
