"""SyslogPrivalParser: a syslog PRI value into facility and severity."""

from __future__ import annotations

import re
from typing import Any, Final

from gp_celery.event import MISSING, Batch, Event, field_path
from gp_celery.modules.base import Example, Options, Parser
from gp_celery.modules.parsers.syslog_names import FACILITIES, SEVERITIES
from gp_celery.modules.registry import register
from gp_celery.modules.types import FieldName

MAX_PRIVAL: Final = 191
"""Facility 23 (local7), severity 7: the largest PRI RFC 5424 allows."""

_PRIVAL: Final = re.compile(r"\s*(?:<([0-9]{1,3})>|([0-9]{1,3}))\s*")


class SyslogPrivalParserOptions(Options):
    source_field: FieldName = "syslog_prival"
    """Field holding the PRI value: '13', '<13>' or the integer 13."""
    map_values: bool = True
    """Write names ('user-level', 'Notice') instead of numbers (default True)."""
    facility_mappings: dict[int, str] = {}
    """Facility number -> name, merged over the defaults."""
    severity_mappings: dict[int, str] = {}
    """Severity number -> name, merged over the defaults."""


@register
class SyslogPrivalParser(Parser[SyslogPrivalParserOptions]):
    """Decode a syslog PRI value into syslog_facility and syslog_severity.

    ``syslog_facility = PRI >> 3`` and ``syslog_severity = PRI & 7`` are written at the top
    level, as names with ``map_values`` (the mappings are merged over the defaults; a number
    without a name stays a number), else as integers.

    Differences from GambolPutty, which silently passed on anything ``int()`` refused: a
    value in angle brackets such as ``<13>`` decodes too (the README's iptables regex
    captures the brackets, so there the original never did anything); integers are taken
    as they are; a value that is not a PRI (text, a negative number, over 191, a float,
    None) tags the event, which goes on without the two fields. An event without the source
    field goes on untouched, as before (counted as ``missing_source``).
    """

    aliases = ("parser.SyslogPrival",)
    examples = [
        Example(
            options={},
            given=[{"syslog_prival": "<13>"}],
            expect=[{"syslog_facility": "user-level", "syslog_severity": "Notice"}],
            note="Angle brackets, as the README's iptables regex captures them.",
        ),
        Example(
            options={"map_values": False},
            given=[{"syslog_prival": 165}],
            expect=[{"syslog_facility": 20, "syslog_severity": 5}],
        ),
        Example(
            options={
                "facility_mappings": {1: "PetShopBolton"},
                "severity_mappings": {5: "DeadParrotException"},
            },
            given=[{"syslog_prival": "13"}],
            expect=[{"syslog_facility": "PetShopBolton", "syslog_severity": "DeadParrotException"}],
        ),
    ]

    def setup(self) -> None:
        self._path = field_path(self.options.source_field)
        self._facilities = {**FACILITIES, **self.options.facility_mappings}
        self._severities = {**SEVERITIES, **self.options.severity_mappings}

    def process(self, events: Batch) -> Batch:
        path, map_values = self._path, self.options.map_values
        for event in events:
            value = path.get(event)
            if value is MISSING:
                self.stats.incr("missing_source")
                continue
            prival = self._prival(event, value)
            if prival is None:
                continue
            facility, severity = prival >> 3, prival & 7
            if map_values:
                event["syslog_facility"] = self._facilities.get(facility, facility)
                event["syslog_severity"] = self._severities.get(severity, severity)
            else:
                event["syslog_facility"], event["syslog_severity"] = facility, severity
        return events

    def _prival(self, event: Event, value: Any) -> int | None:
        """The PRI as an int in 0..191, or None after tagging the event."""
        field = self._path.dotted
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, (str, bytes)):
            text = value if isinstance(value, str) else value.decode("ascii", "replace")
            match = _PRIVAL.fullmatch(text)
            if match is None:
                self.fail(event, f"'{field}' is not a syslog PRI value: {text[:40]!r}")
                return None
            number = int(match.group(1) or match.group(2))
        else:
            self.fail(event, f"'{field}' is {type(value).__name__}, not a syslog PRI value")
            return None
        if not 0 <= number <= MAX_PRIVAL:
            self.fail(event, f"'{field}' {number} is outside 0..{MAX_PRIVAL}")
            return None
        return number
