"""SyslogSink's messages: RFC 3164 and RFC 5424 headers, and their framing on a stream.

Pure functions of their arguments, so the exact bytes on the wire are tested directly.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Final, Literal

Rfc = Literal[3164, 5424]
Framing = Literal["octet_counting", "newline"]

MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
"""RFC 3164's month names: English whatever the locale."""


def priority(facility: int, severity: int) -> bytes:
    """'<PRI>': facility * 8 + severity (RFC 5424 6.2.1)."""
    return b"<%d>" % (facility * 8 + severity)


def header(
    rfc: Rfc, pri: bytes, now: float, *, hostname: str | None, app_name: str, pid: int
) -> bytes:
    """Everything before the message text, for a message sent at ``now``.

    RFC 3164: ``<PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: `` in the sender's local time, as
    syslog(3) writes it. RFC 5424: ``<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID - - `` with
    the time in UTC to the microsecond, no MSGID and no structured data. A ``hostname`` of
    None leaves it out of an RFC 3164 header, as syslog(3) does on the local socket, where
    daemons expect none (5424 always has one: '-' for none).
    """
    if rfc == 3164:
        local = time.localtime(now)
        stamp = f"{MONTHS[local.tm_mon - 1]} {local.tm_mday:2d} {time.strftime('%H:%M:%S', local)}"
        host = "" if hostname is None else f"{hostname} "
        return pri + f"{stamp} {host}{app_name}[{pid}]: ".encode("ascii")
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return pri + f"1 {stamp} {hostname or '-'} {app_name} {pid} - - ".encode("ascii")


def frame(message: bytes, framing: Framing) -> bytes:
    """One message as it goes on a stream: octet counting ('LEN MSG', RFC 6587 3.4.1) or
    ended by a newline (3.4.2, which cannot carry a newline inside a message)."""
    if framing == "octet_counting":
        return b"%d %s" % (len(message), message)
    return message + b"\n"


def header_field(value: str, what: str, limit: int) -> str:
    """A HOSTNAME or APP-NAME: 1 to ``limit`` printable ASCII characters, no spaces."""
    if not 0 < len(value) <= limit or not all(33 <= ord(char) <= 126 for char in value):
        raise ValueError(f"{what} must be 1 to {limit} printable ASCII characters without spaces")
    return value
