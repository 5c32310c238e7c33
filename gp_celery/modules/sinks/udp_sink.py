"""UdpSink: send each event as one UDP datagram (LumberMill's output.Udp)."""

from __future__ import annotations

import socket

from pydantic import Field, field_validator

from gp_celery.event import Batch
from gp_celery.modules.base import Example, Failure, Options, Sink
from gp_celery.modules.registry import register
from gp_celery.modules.sinks.payloads import event_payloads, parse_address
from gp_celery.modules.sinks.sockets import MAX_UDP_PAYLOAD, Link, open_inet
from gp_celery.modules.types import Template


class UdpSinkOptions(Options):
    address: str = "localhost:514"
    """Where to send: 'host:port' ('[2001:db8::1]:514' for IPv6)."""
    format: Template | None = None
    """Send this template per event instead of the event as JSON (a missing field renders as '')."""
    max_datagram_bytes: int = Field(default=MAX_UDP_PAYLOAD, ge=1, le=65527)
    """Events longer than this (with their newline) fail, not retried: UDP cannot split them."""
    store_interval_in_secs: float = Field(default=5, ge=0)
    """Accepted for LumberMill configs; every batch is sent as it comes."""
    batch_size: int = Field(default=500, ge=1)
    """Accepted for LumberMill configs; the runner's batches are sent as they come."""
    backlog_size: int = Field(default=500, ge=1)
    """Accepted for LumberMill configs; backpressure is the listener's job here."""

    @field_validator("address")
    @classmethod
    def _check_address(cls, address: str) -> str:
        parse_address(address)
        return address


@register
class UdpSink(Sink[UdpSinkOptions]):
    """Send each event as one UDP datagram: its JSON or a template, plus a newline.

    The socket is connected to the first address ``address`` resolves to, so the kernel
    reports a receiver that is not listening (ICMP port unreachable) as ECONNREFUSED on a
    later send: that event and the rest of the batch are retried by the runner, as are
    full buffers and unreachable networks. UDP itself confirms nothing, so a datagram sent
    before such a report may be lost. An event longer than ``max_datagram_bytes`` (65507,
    the IPv4 maximum), or that the path refuses as too big (EMSGSIZE), or that cannot be
    encoded, fails alone and goes to the dead letters.

    LumberMill's sink, with its options; it dropped failed events with an error in the
    log, and its ``store_interval_in_secs``, ``batch_size`` and ``backlog_size`` are
    accepted and have no effect (the runner hands over whole batches).
    """

    aliases = ("output.Udp",)
    examples = [
        Example(
            options={"address": "127.0.0.1:5140", "format": "$(host) $(data)"},
            given=[{"host": "web1", "data": "GET / 200"}],
            expect=[{"data": "web1 GET / 200"}],
            note="Sends the datagram 'web1 GET / 200\\n' to 127.0.0.1:5140.",
        ),
    ]

    def setup(self) -> None:
        host, port = parse_address(self.options.address)
        self._link = Link(lambda: open_inet(host, port, socket.SOCK_DGRAM, 10.0))

    def write(self, events: Batch) -> list[Failure]:
        options = self.options
        payloads, failures = event_payloads(
            events, options.format, options.max_datagram_bytes, "max_datagram_bytes", overhead=1
        )
        lines = [(index, payload + b"\n") for index, payload in payloads]
        return failures + self._link.send_datagrams(lines)

    def close(self) -> None:
        self._link.close()
