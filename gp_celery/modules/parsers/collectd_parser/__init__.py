"""CollectdParser: collectd binary network packets into one event per value list."""

from __future__ import annotations

import struct
from typing import Any, Literal

from gp_celery.modules.base import Example
from gp_celery.modules.parsers.binary import as_bytes
from gp_celery.modules.parsers.codec import CodecOptions, CodecParser
from gp_celery.modules.parsers.collectd_parser.protocol import decode_packet, encode_value_list
from gp_celery.modules.registry import register

_LOAD = {
    "host": "web1",
    "time": 1700000000.0,
    "interval": 10.0,
    "plugin": "load",
    "type": "load",
    "values": [0.5, 0.25, 0.125],
    "dstypes": ["gauge", "gauge", "gauge"],
}


class CollectdParserOptions(CodecOptions):
    mode: Literal["line"] = "line"
    """Only 'line': each value is one packet (a UDP datagram)."""


@register
class CollectdParser(CodecParser[CollectdParserOptions]):
    """Decode collectd network packets: one event per value list or notification.

    Decode: each source field holds one packet of collectd's binary protocol (what its
    network plugin sends), as bytes or as text carrying undecoded bytes
    (``surrogateescape``); a UdpServer that sends to it hands over each datagram whole,
    neither stripped nor UTF-8 checked (nor cut at max_datagram_bytes).

    Every value list becomes an event with ``host``, ``time`` and ``interval`` (seconds,
    as floats; ``time_hr`` and ``interval_hr`` are converted), ``plugin``,
    ``plugininstance``, ``type``, ``typeinstance`` (those the packet set), ``values``
    (numbers) and ``dstypes`` (counter, gauge, derive or absolute, one per value); a
    notification becomes an event with ``message`` and ``severity`` (failure, warning,
    okay) instead of values. These merge into the event, or go to target_field; the
    source field is removed unless keep_original.

    A packet with several value lists makes one event per list: the first reuses the
    event, the others are copies with derived ids (more than max_fan_out tags the event
    instead). GambolPutty merged them all into one event, so every list but the last was
    lost.

    A packet that ends inside a part, a part whose length points past the packet or
    below its header, a string without its NUL, a number part not 8 bytes long, a values
    part whose count does not match its length or with an unknown type, an encrypted
    packet (the key is not an option), a packet with no value list, and a value that is
    not bytes are tagged; the event goes on unchanged (GambolPutty logged a warning).
    Unknown part types are skipped, as collectd does (counted as ``unknown_parts``);
    signature parts are skipped without checking them (``signed_unverified``). Strings
    that are not UTF-8 get U+FFFD in place of the bad bytes.

    Encode: the present source fields (or the whole event with ``source_fields: all``) as
    one value list, into target_field ('data' when unset): host, time, interval, plugin,
    plugininstance, type, typeinstance, and ``values`` typed by ``dstypes`` (gauge when
    missing).
    """

    aliases = ("parser.Collectd",)
    reads_raw_datagrams = True
    examples = [
        Example(
            options={},
            given=[{"data": encode_value_list(_LOAD)}],
            expect=[_LOAD],
            note="A packet as collectd's network plugin sends it (load averages).",
        ),
        Example(
            options={"action": "encode", "source_fields": "all", "target_field": "packet"},
            given=[{"host": "web1", "plugin": "users", "type": "users", "values": [3]}],
            expect=[
                {
                    "packet": encode_value_list(
                        {"host": "web1", "plugin": "users", "type": "users", "values": [3]}
                    )
                }
            ],
        ),
    ]

    def decode(self, value: Any) -> Any:
        decoded = decode_packet(as_bytes(value, "a collectd packet"))
        if decoded.unknown_parts:
            self.stats.incr("unknown_parts", decoded.unknown_parts)
        if decoded.signed:
            self.stats.incr("signed_unverified")
        if not decoded.records:
            raise ValueError("holds no value list or notification")
        return decoded.records

    def encode(self, value: Any) -> bytes:
        try:
            return encode_value_list(value)
        except struct.error as error:
            raise ValueError(f"does not fit collectd's types: {error}") from None
