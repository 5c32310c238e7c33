"""collectd's binary network protocol (version 4 and later): packets to value lists and
notifications, and value lists to packets.

A packet is a sequence of parts, each a big-endian (type, length) header of 2 + 2 bytes
followed by ``length - 4`` bytes. Strings end with a NUL; numbers are 64-bit big-endian;
a values part holds a 16-bit count, one data-source type byte per value, then the values:
gauges as little-endian doubles (x86 byte order, as collectd writes them), counters and
absolutes as unsigned and derives as signed 64-bit big-endian integers. Host, time,
plugin, type and the rest are state that later parts reuse: each values part makes one
value list with the state at that point, each message part one notification. ``time_hr``
and ``interval_hr`` count 2**-30 seconds.
"""

from __future__ import annotations

import struct
from typing import Any, Final

HOST: Final = 0x0000
TIME: Final = 0x0001
PLUGIN: Final = 0x0002
PLUGIN_INSTANCE: Final = 0x0003
TYPE: Final = 0x0004
TYPE_INSTANCE: Final = 0x0005
VALUES: Final = 0x0006
INTERVAL: Final = 0x0007
TIME_HR: Final = 0x0008
INTERVAL_HR: Final = 0x0009
MESSAGE: Final = 0x0100
SEVERITY: Final = 0x0101
SIGNATURE: Final = 0x0200
ENCRYPTION: Final = 0x0210

STRINGS: Final = {
    HOST: "host",
    PLUGIN: "plugin",
    PLUGIN_INSTANCE: "plugininstance",
    TYPE: "type",
    TYPE_INSTANCE: "typeinstance",
}
"""String parts -> the key GambolPutty's reader gave them."""

DSTYPES: Final = ("counter", "gauge", "derive", "absolute")
"""Data-source type codes 0-3."""
_VALUE_FORMATS: Final = (">Q", "<d", ">q", ">Q")

SEVERITIES: Final = {1: "failure", 2: "warning", 4: "okay"}
HR_UNIT: Final = 2**-30
_HEADER: Final = struct.Struct(">HH")
_NUMBER: Final = struct.Struct(">Q")


class ProtocolError(ValueError):
    """A packet that does not follow the protocol; the message says where."""


class Decoded:
    """What one packet held: its records in order, and what was skipped."""

    __slots__ = ("records", "signed", "unknown_parts")

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.unknown_parts = 0
        self.signed = False


def decode_packet(packet: bytes) -> Decoded:
    """Value lists and notifications of one packet, or ProtocolError.

    Unknown part types are skipped (as collectd does) and counted; a signature part is
    skipped unverified; an encrypted part cannot be read without the key and is an error.
    """
    decoded = Decoded()
    state: dict[str, Any] = {}
    offset, end = 0, len(packet)
    while offset < end:
        if end - offset < 4:
            raise ProtocolError(f"ends inside a part header at byte {offset}")
        kind, length = _HEADER.unpack_from(packet, offset)
        if length < 4 or offset + length > end:
            raise ProtocolError(
                f"part 0x{kind:04x} at byte {offset} claims {length} bytes, {end - offset} are left"
            )
        body = packet[offset + 4 : offset + length]
        _read_part(kind, body, offset, state, decoded)
        offset += length
    return decoded


def _read_part(kind: int, body: bytes, offset: int, state: dict[str, Any], out: Decoded) -> None:
    where = f"part 0x{kind:04x} at byte {offset}"
    if kind in STRINGS:
        state[STRINGS[kind]] = _string(body, where)
    elif kind in (TIME, TIME_HR, INTERVAL, INTERVAL_HR, SEVERITY):
        number = _number(body, where)
        if kind == SEVERITY:
            state["severity"] = SEVERITIES.get(number, number)
        elif kind in (TIME, INTERVAL):
            state["time" if kind == TIME else "interval"] = float(number)
        else:
            state["time" if kind == TIME_HR else "interval"] = number * HR_UNIT
    elif kind == VALUES:
        dstypes, values = _values(body, where)
        record = {key: value for key, value in state.items() if key != "severity"}
        record["values"], record["dstypes"] = values, dstypes
        out.records.append(record)
    elif kind == MESSAGE:
        notification = {key: value for key, value in state.items() if key != "interval"}
        notification["message"] = _string(body, where)
        out.records.append(notification)
    elif kind == SIGNATURE:
        out.signed = True
    elif kind == ENCRYPTION:
        raise ProtocolError(f"is encrypted ({where}); decrypting is not supported")
    else:
        out.unknown_parts += 1


def _string(body: bytes, where: str) -> str:
    if not body or body[-1] != 0:
        raise ProtocolError(f"{where}: string without its closing NUL")
    return body[:-1].decode("utf-8", errors="replace")


def _number(body: bytes, where: str) -> int:
    if len(body) != 8:
        raise ProtocolError(f"{where}: a number part holds 8 bytes, not {len(body)}")
    number: int = _NUMBER.unpack(body)[0]
    return number


def _values(body: bytes, where: str) -> tuple[list[str], list[float | int]]:
    if len(body) < 2:
        raise ProtocolError(f"{where}: values part without its count")
    (count,) = struct.unpack_from(">H", body)
    if len(body) != 2 + 9 * count:
        raise ProtocolError(f"{where}: {count} values need {2 + 9 * count} bytes, not {len(body)}")
    codes = body[2 : 2 + count]
    if any(code >= len(DSTYPES) for code in codes):
        raise ProtocolError(f"{where}: unknown data-source type {max(codes)}")
    start = 2 + count
    values = [
        struct.unpack_from(_VALUE_FORMATS[code], body, start + 8 * index)[0]
        for index, code in enumerate(codes)
    ]
    return [DSTYPES[code] for code in codes], values


def encode_value_list(record: dict[str, Any]) -> bytes:
    """One value list as a packet: host, time, interval, plugin, plugininstance, type,
    typeinstance (those present), then ``values`` typed by ``dstypes`` (default gauge).
    Raises ValueError, TypeError or struct.error for what cannot be encoded."""
    parts = [_string_part(HOST, record["host"])] if "host" in record else []
    for key, kind in (("time", TIME_HR), ("interval", INTERVAL_HR)):
        if key in record:
            parts.append(_number_part(kind, round(float(record[key]) / HR_UNIT)))
    for kind in (PLUGIN, PLUGIN_INSTANCE, TYPE, TYPE_INSTANCE):
        if STRINGS[kind] in record:
            parts.append(_string_part(kind, record[STRINGS[kind]]))
    values = record.get("values")
    if not isinstance(values, list) or not values:
        raise ValueError("needs 'values', a non-empty list of numbers")
    dstypes = record.get("dstypes", ["gauge"] * len(values))
    if not isinstance(dstypes, list) or len(dstypes) != len(values):
        raise ValueError("needs 'dstypes' with one type per value")
    codes = [DSTYPES.index(name) if name in DSTYPES else -1 for name in dstypes]
    if -1 in codes:
        raise ValueError(f"has a data-source type not in {', '.join(DSTYPES)}")
    body = struct.pack(">H", len(values)) + bytes(codes)
    body += b"".join(
        struct.pack(_VALUE_FORMATS[code], value) for code, value in zip(codes, values, strict=True)
    )
    parts.append(_HEADER.pack(VALUES, 4 + len(body)) + body)
    return b"".join(parts)


def _string_part(kind: int, value: Any) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"'{STRINGS[kind]}' is {type(value).__name__}, not text")
    body = value.encode("utf-8") + b"\x00"
    return _HEADER.pack(kind, 4 + len(body)) + body


def _number_part(kind: int, number: int) -> bytes:
    return _HEADER.pack(kind, 12) + _NUMBER.pack(number)
