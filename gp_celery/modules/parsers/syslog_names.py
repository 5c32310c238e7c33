"""Syslog facility and severity names (RFC 5424 tables 1 and 2, shortened as GambolPutty
named them), shared by SyslogPrivalParser and SyslogParser."""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

FACILITIES: Final = MappingProxyType(
    {
        0: "kernel messages",
        1: "user-level",
        2: "mail",
        3: "system",
        4: "security/authorization",
        5: "syslogd",
        6: "line printer",
        7: "network news",
        8: "UUCP",
        9: "clock",
        10: "security/authorization",
        11: "FTP",
        12: "NTP",
        13: "log audit",
        14: "log alert",
        15: "clock",
        **{16 + number: f"local{number}" for number in range(8)},
    }
)
SEVERITIES: Final = MappingProxyType(
    {
        0: "Emergency",
        1: "Alert",
        2: "Critical",
        3: "Error",
        4: "Warning",
        5: "Notice",
        6: "Informational",
        7: "Debug",
    }
)
