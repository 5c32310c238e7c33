"""A captured frame's Ethernet, IP, TCP, UDP and ICMP header fields, decoded with dpkt.

Field names are LumberMill's Sniffer's (``protocols``, ``packet_size``, ``source_mac``,
``destination_mac``, ``ethertype``, ``s_ip``, ``d_ip``, ``s_port``, ``d_port``, ``data``),
plus the headers it did not read. A header that cannot be decoded ends the decoding there
and is named in the problems; what was decoded before it is kept.
"""

from __future__ import annotations

import socket
import struct
from typing import Any, Final

import dpkt

ARPHRD_ETHER: Final = 1
ARPHRD_LOOPBACK: Final = 772
"""Link types whose frames start with an Ethernet header (loopback's is all zeros)."""
TCP_FLAGS: Final = (
    ("fin", dpkt.tcp.TH_FIN),
    ("syn", dpkt.tcp.TH_SYN),
    ("rst", dpkt.tcp.TH_RST),
    ("psh", dpkt.tcp.TH_PUSH),
    ("ack", dpkt.tcp.TH_ACK),
    ("urg", dpkt.tcp.TH_URG),
)
PACKET_TYPES: Final = ("host", "broadcast", "multicast", "otherhost", "outgoing")
"""Linux's sll_pkttype values, in order: whom the frame was for, or that we sent it."""
ETHERNET_HEADER: Final = 14


def mac(raw: bytes) -> str:
    return ":".join(f"{byte:02x}" for byte in raw)


DPKT_ERRORS: Final = (dpkt.Error, IndexError, AttributeError, KeyError, ValueError, struct.error)
"""What dpkt raises for garbage besides its own errors (found by feeding it random frames:
IndexError in MPLS labels, AttributeError in IPv6 extension headers)."""


def decode_frame(
    frame: bytes, link_type: int, cut: bool = False
) -> tuple[dict[str, Any], list[str]]:
    """The frame's header fields, and what could not be decoded (empty when all was).
    ``cut``: the frame is the head of a longer one (its IP packet is short by design)."""
    try:
        return _decoded(frame, link_type, cut)
    except DPKT_ERRORS as error:
        fields: dict[str, Any] = {"protocols": [], "packet_size": len(frame)}
        fields["data"] = _text(frame[ETHERNET_HEADER:])
        fields["protocols"].append("ethernet")
        destination, source, ethertype = struct.unpack_from("!6s6sH", frame)
        fields.update(
            source_mac=mac(source), destination_mac=mac(destination), ethertype=hex(ethertype)
        )
        reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        return fields, [f"payload of ethertype {hex(ethertype)} not decoded ({reason})"]


def _decoded(frame: bytes, link_type: int, cut: bool) -> tuple[dict[str, Any], list[str]]:
    fields: dict[str, Any] = {"protocols": [], "packet_size": len(frame), "data": ""}
    if link_type not in (ARPHRD_ETHER, ARPHRD_LOOPBACK):
        fields["data"] = _text(frame)
        return fields, [f"link type {link_type} is not Ethernet; frame not decoded"]
    if len(frame) < ETHERNET_HEADER:
        fields["data"] = _text(frame)
        return fields, [f"frame of {len(frame)} bytes is too short for an Ethernet header"]
    ethernet = dpkt.ethernet.Ethernet(frame)  # errors in what follows: see decode_frame
    fields["protocols"].append("ethernet")
    fields["source_mac"] = mac(ethernet.src)
    fields["destination_mac"] = mac(ethernet.dst)
    fields["ethertype"] = hex(ethernet.type)
    payload = ethernet.data
    if ethernet.type == dpkt.ethernet.ETH_TYPE_IP:
        available = None if cut else len(frame) - ETHERNET_HEADER
        return fields, _ipv4(payload, fields, available)
    if ethernet.type == dpkt.ethernet.ETH_TYPE_IP6:
        return fields, _ipv6(payload, fields)
    if isinstance(payload, dpkt.arp.ARP):
        fields["protocols"].append("ARP")
        fields["s_ip"] = _address(payload.spa)
        fields["d_ip"] = _address(payload.tpa)
        return fields, []
    fields["data"] = _text(bytes(payload))
    return fields, []


def _ipv4(packet: Any, fields: dict[str, Any], available: int | None) -> list[str]:
    if not isinstance(packet, dpkt.ip.IP):
        fields["data"] = _text(bytes(packet))
        return ["IPv4 header not decoded"]
    fields["protocols"].append("IPv4")
    fields.update(
        ip_version=4,
        s_ip=socket.inet_ntop(socket.AF_INET, packet.src),
        d_ip=socket.inet_ntop(socket.AF_INET, packet.dst),
        ttl=packet.ttl,
        ip_protocol=packet.p,
    )
    problems = []
    if available is not None and packet.len > available:
        problems.append(f"truncated IPv4 packet ({available} of {packet.len} bytes)")
    return problems + _transport(packet.p, packet.data, fields)


def _ipv6(packet: Any, fields: dict[str, Any]) -> list[str]:
    if not isinstance(packet, dpkt.ip6.IP6):
        fields["data"] = _text(bytes(packet))
        return ["IPv6 header not decoded"]
    fields["protocols"].append("IPv6")
    fields.update(
        ip_version=6,
        s_ip=socket.inet_ntop(socket.AF_INET6, packet.src),
        d_ip=socket.inet_ntop(socket.AF_INET6, packet.dst),
        ttl=packet.hlim,
        ip_protocol=getattr(packet, "p", packet.nxt),  # p: after the extension headers
    )
    return _transport(packet.p, packet.data, fields)


def _transport(protocol: int, segment: Any, fields: dict[str, Any]) -> list[str]:
    if isinstance(segment, dpkt.tcp.TCP):
        fields["protocols"].append("TCP")
        fields.update(
            s_port=segment.sport,
            d_port=segment.dport,
            sequence_number=segment.seq,
            ack=segment.ack,
            tcp_flags=[name for name, bit in TCP_FLAGS if segment.flags & bit],
            data=_text(bytes(segment.data)),
        )
        return []
    if isinstance(segment, dpkt.udp.UDP):
        fields["protocols"].append("UDP")
        fields.update(s_port=segment.sport, d_port=segment.dport, data=_text(bytes(segment.data)))
        return []
    if isinstance(segment, dpkt.icmp.ICMP | dpkt.icmp6.ICMP6):
        fields["protocols"].append("ICMP" if isinstance(segment, dpkt.icmp.ICMP) else "ICMPv6")
        fields.update(icmp_type=segment.type, icmp_code=segment.code)
        return []
    fields["data"] = _text(bytes(segment))
    names = {socket.IPPROTO_TCP: "TCP", socket.IPPROTO_UDP: "UDP", socket.IPPROTO_ICMP: "ICMP"}
    if protocol in names:
        return [f"{names[protocol]} header not decoded"]
    return []


def _address(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET, raw) if len(raw) == 4 else raw.hex()


def _text(payload: bytes) -> str:
    """Payload bytes as text, undecodable bytes kept (sinks write them back as they came)."""
    return payload.decode("utf-8", "surrogateescape")
