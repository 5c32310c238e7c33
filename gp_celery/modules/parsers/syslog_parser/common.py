"""What both syslog formats share."""

from __future__ import annotations

from typing import Final

NIL: Final = "-"
"""RFC 5424's NILVALUE: the field is not known."""
BOM: Final = "\ufeff"
MAX_PRI: Final = 191
"""facility 23 (local7) x 8 + severity 7."""


class SyslogError(ValueError):
    """The text is not a syslog message of the expected format; the reason reads after
    the field name ("'data' is not an RFC 5424 header")."""


def strip_bom(message: str) -> str:
    """MSG without the UTF-8 byte order mark RFC 5424 puts before Unicode text."""
    return message[1:] if message.startswith(BOM) else message
