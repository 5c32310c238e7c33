"""SyslogSink options."""

from __future__ import annotations

from logging.handlers import SysLogHandler
from typing import Literal

from pydantic import Field, field_validator

from gp_celery.modules.base import Options
from gp_celery.modules.sinks.payloads import parse_address
from gp_celery.modules.sinks.syslog_sink.frames import header_field
from gp_celery.modules.types import Template


class SyslogSinkOptions(Options):
    format: Template
    """The message text per event, e.g. '$(remote_ip) $(url)' (a missing field renders as '')."""
    address: str = "localhost:514"
    """'host:port', or the path of a unix socket such as /dev/log (any address with a '/')."""
    proto: Literal["tcp", "udp"] = "tcp"
    """Transport to host:port (a unix socket is a datagram socket if it is one, else a stream)."""
    facility: str = "user"
    """Syslog facility: user, daemon, local0 ... local7, ... (the names of syslog.h)."""
    severity: str = "info"
    """Syslog severity of every message: emerg, alert, crit, err, warning, notice, info, debug."""
    rfc: Literal[3164, 5424] = 3164
    """Message format: 3164 (BSD: '<PRI>Dec  1 10:59:00 host app[pid]: text') or 5424."""
    hostname: str | None = None
    """HOSTNAME in the header; None: this machine's name."""
    app_name: str = "gp-celery"
    """The tag (3164) or APP-NAME (5424) in the header."""
    framing: Literal["octet_counting", "newline"] = "octet_counting"
    """How messages are cut on a stream (tcp, unix stream): 'octet_counting' or 'newline'."""
    max_message_bytes: int = Field(default=65536, ge=1)
    """Longer messages (header included) fail, not retried; UDP also caps them at 65507."""
    timeout_secs: float = Field(default=10, gt=0)
    """Connect and send timeout; a batch that times out is retried."""

    @field_validator("address")
    @classmethod
    def _check_address(cls, address: str) -> str:
        if "/" not in address:
            parse_address(address)
        return address

    @field_validator("facility")
    @classmethod
    def _check_facility(cls, facility: str) -> str:
        if facility.lower() not in SysLogHandler.facility_names:
            names = ", ".join(sorted(SysLogHandler.facility_names))
            raise ValueError(f"unknown facility {facility!r}; valid facilities: {names}")
        return facility.lower()

    @field_validator("severity")
    @classmethod
    def _check_severity(cls, severity: str) -> str:
        if severity.lower() not in SysLogHandler.priority_names:
            names = ", ".join(sorted(SysLogHandler.priority_names))
            raise ValueError(f"unknown severity {severity!r}; valid severities: {names}")
        return severity.lower()

    @field_validator("hostname")
    @classmethod
    def _check_hostname(cls, hostname: str | None) -> str | None:
        return None if hostname is None else header_field(hostname, "hostname", 255)

    @field_validator("app_name")
    @classmethod
    def _check_app_name(cls, app_name: str) -> str:
        return header_field(app_name, "app_name", 48)
