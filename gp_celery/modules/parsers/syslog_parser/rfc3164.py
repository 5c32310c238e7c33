"""RFC 3164 (BSD syslog): ``<PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG``, as senders
really write it.

A fraction of a second after 'Mmm dd hh:mm:ss' is read, and an RFC 3339 timestamp in its
place, as rsyslog and syslog-ng forward it. The classic timestamp has no year and no
zone: the zone is an option, and the year is the one that puts the time closest to now
without being more than a day ahead (so December's messages read in January are last
year's, and a sender whose clock is a little fast at midnight on New Year's Eve is not a
year off). The hostname is often left out (``logger`` writing to a local socket, many
devices): a first word that is directly followed by '[' or ':' is taken as the TAG, not
a host. The TAG (app name) ends at '[', ':' or a space; '[...]' after it is the PID.
Text without a TAG is all message."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo
from typing import Any, Final

from gp_celery.modules.parsers.syslog_parser.common import SyslogError, strip_bom
from gp_celery.modules.parsers.syslog_parser.rfc5424 import parse_timestamp

HEADER: Final = re.compile(
    r"<(?P<pri>\d{1,3})>(?P<month>[A-Za-z]{3}) {1,2}(?P<day>\d{1,2}) "
    r"(?P<hour>\d\d):(?P<minute>\d\d):(?P<second>\d\d)(?:\.(?P<fraction>\d{1,6}))?(?: |$)",
    re.ASCII,
)
ISO_HEADER: Final = re.compile(
    r"<(?P<pri>\d{1,3})>(?P<timestamp>\d{4}-\d\d-\d\dT[^ ]{1,40})(?: |$)", re.ASCII
)
MONTHS: Final = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
TAG: Final = re.compile(r"(?P<tag>[^\s\[:]{1,128})(?:\[(?P<pid>[^\]\s]{0,128})\])?:? ?")
"""TAG, optional [PID], the colon and one space. Bounded parts: linear to match."""
MAX_AHEAD: Final = timedelta(days=1)
"""How far in the future a timestamp may be before the previous year is taken instead."""
Clock = Callable[[], datetime]


def parse_rfc3164(text: str, zone: tzinfo | None, now: datetime) -> dict[str, Any]:
    """The fields of one RFC 3164 message; SyslogError if it has no '<PRI>Mmm dd hh:mm:ss'.
    ``zone`` None is the local time of the process."""
    header = HEADER.match(text)
    if header is None:
        return _parse_iso_stamped(text)
    parts = header.groupdict()
    month = MONTHS.get(parts["month"].lower())
    if month is None:
        raise SyslogError(f"has an unknown month {parts['month']!r}")
    clock = tuple(int(parts[name]) for name in ("day", "hour", "minute", "second"))
    stamp = infer_year(month, *clock, zone=zone, now=now)
    if fraction := parts["fraction"]:  # Cisco's and Juniper's milliseconds
        stamp = stamp.replace(microsecond=int(fraction.ljust(6, "0")))
    fields: dict[str, Any] = {"pri": int(parts["pri"]), "timestamp": stamp.isoformat()}
    fields.update(_host_tag_message(text, header.end()))
    return fields


def _parse_iso_stamped(text: str) -> dict[str, Any]:
    """rsyslog's and syslog-ng's RFC 3164 with an RFC 3339 timestamp instead of
    'Mmm dd hh:mm:ss' (RSYSLOG_ForwardFormat): the year and offset come with it."""
    header = ISO_HEADER.match(text)
    if header is None:
        raise SyslogError("is not an RFC 3164 header ('<PRI>Mmm dd hh:mm:ss')")
    fields: dict[str, Any] = {
        "pri": int(header.group("pri")),
        "timestamp": parse_timestamp(header.group("timestamp")),
    }
    fields.update(_host_tag_message(text, header.end()))
    return fields


def infer_year(
    month: int, day: int, hour: int, minute: int, second: int, *, zone: tzinfo | None, now: datetime
) -> datetime:
    """The latest of next, this and last year's date that is at most MAX_AHEAD after
    ``now``: RFC 3164 timestamps carry no year."""
    here = now.astimezone(zone)
    for year in (here.year + 1, here.year, here.year - 1, here.year - 2):
        try:
            naive = datetime(year, month, day, hour, minute, second)
        except ValueError as error:  # 29 Feb outside a leap year, 31 Apr, hour 25
            if month == 2 and day == 29:
                continue
            raise SyslogError(f"has an invalid timestamp ({error})") from None
        stamp = naive.astimezone() if zone is None else naive.replace(tzinfo=zone)
        if stamp - now <= MAX_AHEAD:
            return stamp
    raise SyslogError("has a timestamp of a day that did not exist lately")


def _host_tag_message(text: str, pos: int) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    space = text.find(" ", pos)
    first = text[pos:space] if space >= 0 else text[pos:]
    if first and not _is_tag(text, pos):
        fields["hostname"] = first
        pos = len(text) if space < 0 else space + 1
    tag = TAG.match(text, pos)
    if tag is not None and _is_tag(text, pos):
        fields["appname"] = tag.group("tag")
        if tag.group("pid"):
            fields["procid"] = tag.group("pid")
        pos = tag.end()
    fields["message"] = strip_bom(text[pos:])
    return fields


def _is_tag(text: str, pos: int) -> bool:
    """Is the word at ``pos`` a TAG: followed directly by '[' or ':'?"""
    end = pos
    limit = min(len(text), pos + 129)
    while end < limit and text[end] not in " \t[:":
        end += 1
    return end > pos and end < len(text) and text[end] in "[:"
