"""SyslogSink: send events to a syslog server as RFC 3164 or 5424 messages."""

from __future__ import annotations

import os
import socket
import time
from logging.handlers import SysLogHandler

from gp_celery.event import HOSTNAME, Batch
from gp_celery.modules.base import Example, Failure, Sink
from gp_celery.modules.registry import register
from gp_celery.modules.sinks.payloads import describe, event_payloads, parse_address
from gp_celery.modules.sinks.sockets import (
    MAX_UDP_PAYLOAD,
    Link,
    is_retriable,
    open_inet,
    open_unix,
)
from gp_celery.modules.sinks.syslog_sink.frames import frame, header, priority
from gp_celery.modules.sinks.syslog_sink.options import SyslogSinkOptions

__all__ = ["SyslogSink", "SyslogSinkOptions"]


@register
class SyslogSink(Sink[SyslogSinkOptions]):
    """Send each event's rendered ``format`` to a syslog server (UDP, TCP or unix socket).

        Messages have a real RFC 3164 header (``<14>Dec  1 10:59:00 host gp-celery[42]: text``,
        local time) or, with ``rfc: 5424``, ``<14>1 2026-12-01T10:59:00.123456Z host gp-celery
        42 - - text`` (UTC). Over TCP and unix stream sockets they are octet-counted (RFC 6587:
        ``LEN MSG``, which carries newlines), or newline-ended with ``framing: newline``; over UDP
        and unix datagram sockets (/dev/log) each message is one datagram. A batch goes with one
        send on a stream. ``address`` with a '/' is a unix socket path; there, RFC 3164 messages
    carry no HOSTNAME, as syslog(3) writes them to /dev/log.

        A receiver that is down, restarting or slow (refused, reset, timed out, a missing socket
        path) makes the batch retriable; a connection the receiver closed between batches is
        noticed and reopened before sending. A message longer than ``max_message_bytes`` (UDP:
        65507 at most), one with a newline under ``framing: newline``, or one that cannot be
        rendered fails alone and goes to the dead letters. Delivery is at least once: a retry
        after a connection broke mid-batch may repeat messages.

        GambolPutty logged the text through Python's SysLogHandler: ``<PRI>text`` and a NUL
        byte, with no header and no framing on TCP, which receivers split and date as they
        guessed. Its options keep their names and defaults; ``severity``, ``rfc``,
        ``hostname``, ``app_name``, ``framing``, ``max_message_bytes`` and ``timeout_secs`` are new.
    """

    aliases = ("output.Syslog",)
    examples = [
        Example(
            options={"format": "$(remote_ip) $(url)", "address": "localhost:514", "proto": "tcp"},
            given=[{"remote_ip": "192.0.2.20", "url": "/index.html"}],
            expect=[{"data": "192.0.2.20 /index.html"}],
            note="Sends '<14>Dec  1 10:59:00 thishost gp-celery[42]: 192.0.2.20 /index.html'.",
        ),
    ]

    def setup(self) -> None:
        options = self.options
        timeout, address = options.timeout_secs, options.address
        if "/" in address:
            self._link = Link(lambda: open_unix(address, timeout))
        else:
            host, port = parse_address(address)
            kind = socket.SOCK_STREAM if options.proto == "tcp" else socket.SOCK_DGRAM
            self._link = Link(lambda: open_inet(host, port, kind, timeout))
        facility = SysLogHandler.facility_names[options.facility]
        self._priority = priority(facility, SysLogHandler.priority_names[options.severity])
        self._hostname: str | None = options.hostname or _header_hostname()
        if "/" in address and options.rfc == 3164:
            self._hostname = None  # syslog(3)'s form on /dev/log: daemons read no hostname

    def write(self, events: Batch) -> list[Failure]:
        options = self.options
        try:
            datagram = self._link.is_datagram()
        except OSError as error:
            reason, retriable = describe(error), is_retriable(error)
            return [Failure(index, reason, retriable) for index in range(len(events))]
        limit = min(options.max_message_bytes, MAX_UDP_PAYLOAD if datagram else 1 << 62)
        head = header(
            options.rfc,
            self._priority,
            time.time(),
            hostname=self._hostname,
            app_name=options.app_name,
            pid=os.getpid(),
        )
        texts, failures = event_payloads(
            events, options.format, limit, "max_message_bytes", overhead=len(head)
        )
        messages: list[tuple[int, bytes]] = []
        for index, text in texts:
            if not datagram and options.framing == "newline" and b"\n" in text:
                reason = "the message has a newline, which 'framing: newline' cannot carry"
                failures.append(Failure(index, reason, False))
            else:
                messages.append((index, head + text))
        if datagram:
            return failures + self._link.send_datagrams(messages)
        if not messages:
            return failures
        try:
            self._link.send_stream(
                b"".join(frame(message, options.framing) for _, message in messages)
            )
        except OSError as error:
            reason, retriable = describe(error), is_retriable(error)
            failures += [Failure(index, reason, retriable) for index, _ in messages]
        return failures

    def close(self) -> None:
        self._link.close()


def _header_hostname() -> str:
    """This machine's name as a header field: printable ASCII without spaces, else '-'."""
    name = HOSTNAME or "-"
    return name if all(33 <= ord(char) <= 126 for char in name) else "-"
