"""NetFlow v5 export packets: a 24-byte header, then ``count`` records of 48 bytes.

Layout (all numbers big-endian), as Cisco documents it:
header  version(2) count(2) sys_uptime(4) unix_secs(4) unix_nsecs(4) flow_sequence(4)
        engine_type(1) engine_id(1) sampling_interval(2)
record  srcaddr(4) dstaddr(4) nexthop(4) input(2) output(2) dPkts(4) dOctets(4)
        first(4) last(4) srcport(2) dstport(2) pad(1) tcp_flags(1) prot(1) tos(1)
        src_as(2) dst_as(2) src_mask(1) dst_mask(1) pad(2)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any, Final

from gp_celery.modules.parsers.net_flow_parser.ip_protocols import IP_PROTOCOLS

HEADER: Final = struct.Struct("!HHIIIIBBH")
RECORD: Final = struct.Struct("!4s4s4sHHIIIIHHxBBBHHBBxx")
HEADER_FIELDS: Final = (
    "sys_uptime",
    "unix_secs",
    "unix_nsecs",
    "flow_sequence",
    "engine_type",
    "engine_id",
    "sampling_interval",
)
ADDRESS_FIELDS: Final = ("srcaddr", "dstaddr", "nexthop")
NUMBER_FIELDS: Final = (
    "snmp_index_in_interface",
    "snmp_index_out_interface",
    "packet_count",
    "byte_count",
    "uptime_start",
    "uptime_end",
    "srcport",
    "dstport",
    "tcp_flags_binary",
    "prot",
    "tos",
    "src_as",
    "dst_as",
    "src_mask",
    "dst_mask",
)
RECORD_KEYS: Final = (
    *HEADER_FIELDS,
    "srcaddr",
    "dstaddr",
    "nexthop",
    "snmp_index_in_interface",
    "snmp_index_out_interface",
    "packet_count",
    "byte_count",
    "uptime_start",
    "uptime_end",
    "srcport",
    "dstport",
    "tcp_flags_binary",
    "tcp_flags",
    "prot",
    "prot_name",
    "tos",
    "src_as",
    "dst_as",
    "src_mask",
    "dst_mask",
)
"""Every key of a decoded record, in the order decode_v5 writes them."""
TCP_FLAGS: Final = ("FIN", "SYN", "RST", "PUSH", "ACK", "URG", "ECE", "CWR")
"""Names of the TCP flag bits, lowest first (GambolPutty's names, its 'ACk' spelt 'ACK')."""


@dataclass(frozen=True)
class Decoded:
    """The flow records of one packet, and how many bytes followed the last one."""

    records: list[dict[str, Any]]
    trailing_bytes: int


def tcp_flag_names(flags: int) -> list[str]:
    """['SYN', 'ACK'] for 0x12: the names of the set bits, lowest bit first."""
    return [name for bit, name in enumerate(TCP_FLAGS) if flags >> bit & 1]


def decode_v5(packet: bytes) -> Decoded:
    """The flow records of a NetFlow v5 packet, each a fresh dict holding the header's
    fields too. Raises ValueError with a reason that reads after the field name."""
    size = len(packet)
    if size < 4:
        raise ValueError(f"is {size} bytes, too short for a NetFlow version and count")
    version, count = struct.unpack_from("!HH", packet)
    if version != 5:
        raise ValueError(f"has unsupported version {version} (only NetFlow v5 is decoded)")
    if size < HEADER.size:
        raise ValueError(f"is {size} bytes, shorter than the {HEADER.size}-byte v5 header")
    if count == 0:
        raise ValueError("holds no flow record (its count is 0)")
    end = HEADER.size + count * RECORD.size
    if size < end:
        whole = (size - HEADER.size) // RECORD.size
        raise ValueError(
            f"claims {count} records ({end} bytes) but is {size} bytes ({whole} whole records)"
        )
    header = dict(zip(HEADER_FIELDS, HEADER.unpack_from(packet)[2:], strict=True))
    records = [_record(header, packet, offset) for offset in range(HEADER.size, end, RECORD.size)]
    return Decoded(records, size - end)


def _record(header: dict[str, Any], packet: bytes, offset: int) -> dict[str, Any]:
    (src, dst, hop, if_in, if_out, packets, octets, first, last, srcport, dstport, flags, prot,
     tos, src_as, dst_as, src_mask, dst_mask) = RECORD.unpack_from(packet, offset)  # fmt: skip
    return {
        **header,
        "srcaddr": str(IPv4Address(src)),
        "dstaddr": str(IPv4Address(dst)),
        "nexthop": str(IPv4Address(hop)),
        "snmp_index_in_interface": if_in,
        "snmp_index_out_interface": if_out,
        "packet_count": packets,
        "byte_count": octets,
        "uptime_start": first,
        "uptime_end": last,
        "srcport": srcport,
        "dstport": dstport,
        "tcp_flags_binary": flags,
        "tcp_flags": tcp_flag_names(flags),
        "prot": prot,
        "prot_name": IP_PROTOCOLS.get(prot),
        "tos": tos,
        "src_as": src_as,
        "dst_as": dst_as,
        "src_mask": src_mask,
        "dst_mask": dst_mask,
    }


def encode_v5(header: dict[str, Any], records: list[dict[str, Any]]) -> bytes:
    """A v5 packet from header and record fields as decode_v5 names them (missing ones 0),
    for examples and tests; the tests build their packets independently of this."""
    head = [header.get(name, 0) for name in HEADER_FIELDS]
    packet = HEADER.pack(5, len(records), *head)
    for record in records:
        packet += RECORD.pack(
            *(IPv4Address(record.get(name, 0)).packed for name in ADDRESS_FIELDS),
            *(record.get(name, 0) for name in NUMBER_FIELDS),
        )
    return packet
