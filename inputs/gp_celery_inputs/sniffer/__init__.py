"""Sniffer: capture packets on a network interface; one event per packet."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import re
import socket
import struct
from typing import Any, Final

from pydantic import Field, field_validator

from gp_celery.codec import pack
from gp_celery.event import ERRORS, META
from gp_celery.framing import Framing, Piece
from gp_celery.modules.base import Emit, Example, Input, Options
from gp_celery.modules.registry import register
from gp_celery.modules.types import FieldName

ETH_P_ALL: Final = 0x0003
SOL_PACKET: Final = 263
PACKET_ADD_MEMBERSHIP: Final = 1
PACKET_MR_PROMISC: Final = 1
PACKET_STATISTICS: Final = 6
"""From linux/if_packet.h; Python's socket module names none of them."""
PACKET_OUTGOING: Final = 4
BATCH_PACKETS: Final = 500
STOP_PACKETS: Final = 100_000
"""At most this many packets still in the socket's buffer are sent on when the capture
stops (more than its 8 MiB hold)."""
RECEIVE_BUFFER_BYTES: Final = 4 << 20
DROP_WARNING_SECS: Final = 10.0
_INTERFACE: Final = re.compile(r"[^/\s]{1,15}")


class SnifferOptions(Options):
    interface: str = "any"
    """Network interface to capture on ('any': every interface)."""
    packetfilter: str | None = None
    """A tcpdump filter expression, e.g. 'tcp port 80' (compiled by tcpdump at load)."""
    promiscous: bool = False
    """Also capture frames for other hosts (needs a named interface; GambolPutty's spelling)."""
    target_field: FieldName | None = None
    """Put the decoded fields in this field instead of the top level of the event."""
    max_packet_bytes: int = Field(65535, ge=64, le=262144)
    """Longer frames are cut to this many bytes and tagged."""
    packet_count: int = Field(0, ge=0)
    """Stop after this many packets (0: capture until stopped)."""
    protocols: list[str] = ["Data"]
    """Accepted for LumberMill configs; every protocol decoded is reported."""
    key_value_store: str | None = None
    """Accepted for GambolPutty configs and unused."""

    @field_validator("interface")
    @classmethod
    def _interface_name(cls, interface: str) -> str:
        if not _INTERFACE.fullmatch(interface):
            raise ValueError(f"expected an interface name such as 'eth0', got {interface!r}")
        return interface

    @field_validator("packetfilter")
    @classmethod
    def _compiles(cls, expression: str | None) -> str | None:
        if expression is not None:
            from gp_celery_inputs.sniffer.bpf import compile_filter

            compile_filter(expression)  # raises ValueError with tcpdump's message
        return expression


@register
class Sniffer(Input[SnifferOptions]):
    """Capture packets on an interface; each packet is an event of its header fields.

    Fields (LumberMill's names): ``protocols`` (e.g. ["ethernet", "IPv4", "TCP"]),
    ``packet_size``, ``source_mac``, ``destination_mac``, ``ethertype`` ("0x800"),
    ``s_ip``, ``d_ip``, ``ip_version``, ``ttl``, ``ip_protocol``, ``s_port``, ``d_port``,
    TCP's ``sequence_number``, ``ack`` and ``tcp_flags`` (["syn", "ack"]), ICMP's
    ``icmp_type`` and ``icmp_code``, ARP's addresses as ``s_ip``/``d_ip``, and ``data``:
    the payload (undecodable bytes kept, as a TCP stream's are). ``interface`` and
    ``packet_type`` (host, broadcast, multicast, otherhost, outgoing) say where and how
    it was seen; ``received_from`` is the interface. A frame that cannot be decoded (too
    short, a broken IP, TCP or UDP header, a link type other than Ethernet) is an event
    tagged with what failed, holding what was decoded; longer frames than
    ``max_packet_bytes`` are cut and tagged. Packets the kernel dropped because the
    pipeline was behind are counted ("dropped_packets") with a rate-limited warning; when
    the capture stops, the packets already captured are sent on.

    Needs root (CAP_NET_RAW). A raw AF_PACKET socket reads the frames; ``packetfilter``
    is compiled by tcpdump (Debian's) at load and run by the kernel, for Ethernet framing.
    Headers are decoded with dpkt. On loopback each packet is reported once (what we send
    there we also receive), as tcpdump does. Differences from GambolPutty: pcapy and
    impacket are gone; UDP, IPv6, ICMP and ARP are decoded too; ``packet_count``,
    ``max_packet_bytes``, ``ip_version``, ``ttl``, ``tcp_flags``, ``interface`` and
    ``packet_type`` are new; ``key_value_store`` and ``protocols`` are accepted, unused.
    """

    aliases = ("input.Sniffer",)
    capturing: bool = False
    """True once packets are captured (for tests: what was sent before is not)."""
    examples = [
        Example(
            options={"interface": "lo", "packetfilter": "udp dst port 9", "packet_count": 1},
            given=[],
            expect=[
                {
                    "protocols": ["ethernet", "IPv4", "UDP"],
                    "s_ip": "127.0.0.1",
                    "d_ip": "127.0.0.1",
                    "d_port": 9,
                    "data": "ping",
                    "interface": "lo",
                }
            ],
            note="The first UDP datagram sent to port 9 on this host, e.g. 'ping'.",
        ),
    ]

    def default_framing(self) -> Framing:
        return Framing(kind="events")

    async def serve(self, emit: Emit) -> None:
        sock = self._open()
        interface = self.options.interface
        limit = self.options.packet_count
        seen = 0
        try:
            self.capturing = True
            self.log.info("%s: capturing on %s.", self.label, interface)
            try:
                while not limit or seen < limit:
                    await _readable(sock)
                    packets = self._read(sock, BATCH_PACKETS if not limit else limit - seen)
                    self._count_drops(sock)
                    if packets:
                        seen += len(packets)
                        await emit(_pieces(packets))
            finally:  # captured already (in the socket's buffer): send them on
                if packets := self._read(sock, limit - seen if limit else STOP_PACKETS):
                    seen += len(packets)
                    await emit(_pieces(packets))
        finally:
            sock.close()
        self.log.info("%s: captured %d packets; stopping.", self.label, seen)

    def _open(self) -> socket.socket:
        """A raw packet socket on the interface, its filter attached, old packets drained."""
        from gp_celery_inputs.sniffer.bpf import attach_filter, compile_filter

        options = self.options
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        except PermissionError as error:
            raise PermissionError(
                error.errno, f"{self.label}: capturing packets needs root (CAP_NET_RAW)"
            ) from None
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
            if options.packetfilter is not None:
                attach_filter(sock, compile_filter(options.packetfilter))
            if options.interface != "any":
                sock.bind((options.interface, ETH_P_ALL))
                if options.promiscous:
                    index = socket.if_nametoindex(options.interface)
                    membership = struct.pack("iHH8s", index, PACKET_MR_PROMISC, 0, b"")
                    sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, membership)
            elif options.promiscous:
                self.log.warning("%s: 'any' cannot be promiscuous; capturing without.", self.label)
        except OSError as error:
            sock.close()
            reason = error.strerror or str(error)
            raise OSError(
                error.errno, f"{self.label}: cannot capture on {options.interface}: {reason}"
            ) from None
        _drain(sock)  # what arrived before the filter and the bind held
        return sock

    def _read(self, sock: socket.socket, most: int) -> list[tuple[str, bytes]]:
        """Up to ``most`` waiting packets: the interface, and the packet's packed event."""
        from gp_celery_inputs.sniffer.decode import PACKET_TYPES, decode_frame

        size = self.options.max_packet_bytes
        target = self.options.target_field
        packets: list[tuple[str, bytes]] = []
        while len(packets) < most:
            try:
                frame, _, flags, address = sock.recvmsg(size)
            except BlockingIOError:
                break
            interface, _protocol, packet_type, link_type = address[:4]
            if packet_type == PACKET_OUTGOING and link_type == 772:  # loopback: seen twice
                continue
            cut = bool(flags & socket.MSG_TRUNC)
            fields, problems = decode_frame(frame, link_type, cut)
            if cut:
                problems.append(f"frame longer than max_packet_bytes={size}; cut")
            fields["interface"] = interface
            fields["packet_type"] = PACKET_TYPES[packet_type] if packet_type < 5 else packet_type
            event: dict[str, Any] = {target: fields} if target else fields
            if problems:
                self.stats.incr("malformed_packets")
                event[META] = {ERRORS: [{"node": self.node_id, "reason": p} for p in problems]}
            packets.append((interface, pack(event)))
        return packets

    def _count_drops(self, sock: socket.socket) -> None:
        """Read (and so reset) the kernel's count of packets it dropped for this socket."""
        try:
            raw = sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
        except OSError as error:
            if error.errno != errno.ENOPROTOOPT:
                raise
            return
        dropped = struct.unpack("II", raw)[1]
        if dropped:
            self.stats.incr("dropped_packets", dropped)
            self.warn_limited(
                "dropped",
                "the kernel dropped %d packets while the pipeline was behind (%d so far).",
                dropped,
                self.stats.counts["dropped_packets"],
                every=DROP_WARNING_SECS,
            )


def _pieces(packets: list[tuple[str, bytes]]) -> list[Piece]:
    """One piece per run of packets from the same interface (sizes keep them apart)."""
    pieces = []
    for interface, group in itertools.groupby(packets, key=lambda item: item[0]):
        run = [event for _, event in group]
        pieces.append(Piece(interface, b"".join(run), tuple(map(len, run))))
    return pieces


def _drain(sock: socket.socket) -> None:
    """Throw away the packets waiting on the socket, and the kernel's counts so far."""
    while True:
        try:
            sock.recv(1)
        except BlockingIOError:
            break
    with contextlib.suppress(OSError):
        sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)


async def _readable(sock: socket.socket) -> None:
    """Until the socket has a packet. The reader is removed again at once: one that stayed
    while emit() waits would wake the loop for every pending packet."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(sock.fileno(), wake)
    try:
        await ready
    finally:
        loop.remove_reader(sock.fileno())
