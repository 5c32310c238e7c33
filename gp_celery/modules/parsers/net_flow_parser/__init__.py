"""NetFlowParser: NetFlow v5 export packets into one event per flow record."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Final

from gp_celery.event import MISSING, Batch, Event, FieldPath, copy_event, field_path, set_event_type
from gp_celery.modules.base import Example, Options, Parser, State
from gp_celery.modules.parsers.binary import as_bytes
from gp_celery.modules.parsers.net_flow_parser.v5 import (
    HEADER_FIELDS,
    NUMBER_FIELDS,
    RECORD_KEYS,
    decode_v5,
    encode_v5,
)
from gp_celery.modules.registry import register
from gp_celery.modules.types import FieldName

EVENT_TYPE: Final = "NetFlowV5"

_HEADER = {"sys_uptime": 360_000, "unix_secs": 1_700_000_000, "flow_sequence": 7}
_PING = {"srcaddr": "195.137.224.22", "dstaddr": "10.0.0.1", "nexthop": "10.0.0.254",
         "prot": 1, "packet_count": 4, "byte_count": 336}  # fmt: skip
_SYN = {"srcaddr": "10.0.0.2", "dstaddr": "10.0.0.1", "nexthop": "10.0.0.254",
        "srcport": 40000, "dstport": 22, "prot": 6, "tcp_flags_binary": 2}  # fmt: skip
_ZEROS = dict.fromkeys((*HEADER_FIELDS, *NUMBER_FIELDS), 0)


def _flow(*parts: Mapping[str, object]) -> dict[str, object]:
    """An example's expected record, its keys in the order the parser writes them."""
    merged = {key: value for part in parts for key, value in part.items()}
    return {key: merged[key] for key in RECORD_KEYS}


class NetFlowParserOptions(Options):
    source_field: FieldName = "data"
    """Field holding the packet (default 'data')."""
    target_field: FieldName = "data"
    """Field that gets each flow record as a map (default 'data')."""
    keep_original: bool = False
    """Keep source_field when target_field is another field (default False)."""


@register
class NetFlowParser(Parser[NetFlowParserOptions]):
    """Decode NetFlow v5 export packets: one event per flow record.

    source_field holds one packet, as bytes or as text carrying undecoded bytes
    (``surrogateescape``); a UdpServer that sends to this parser hands over each datagram
    whole, neither stripped nor UTF-8 checked. Each flow record becomes an event whose
    target_field is a map of the header's ``sys_uptime``, ``unix_secs``, ``unix_nsecs``,
    ``flow_sequence``, ``engine_type``, ``engine_id``, ``sampling_interval`` (the raw 16
    bits: the top two are the sampling mode) and the record's ``srcaddr``, ``dstaddr``,
    ``nexthop`` (dotted quads), ``snmp_index_in_interface``, ``snmp_index_out_interface``,
    ``packet_count``, ``byte_count``, ``uptime_start``, ``uptime_end`` (milliseconds of
    sys_uptime), ``srcport``, ``dstport``, ``tcp_flags_binary`` (the byte),
    ``tcp_flags`` (names: FIN, SYN, RST, PUSH, ACK, URG, ECE, CWR), ``prot``,
    ``prot_name`` (IANA keyword such as ``icmp``, from a table shipped with gp-celery so
    every host says the same; None for unassigned numbers), ``tos``, ``src_as``,
    ``dst_as``, ``src_mask``, ``dst_mask``. The event type is ``NetFlowV5``. The source
    field is removed unless keep_original (with the default target_field 'data' the
    record replaces the packet anyway).

    The first record reuses the event; the others are copies with derived ids, each with
    a map of its own (GambolPutty reused one dict for every record, so all events of a
    packet ended up showing the last record). Flag names are GambolPutty's, so filters
    written for it still match ('PUSH', not 'PSH'), except that its 'ACk' is spelt 'ACK'.

    A value that is not bytes, a packet too short for the header, one whose count
    claims more records than it holds (truncated), one with a count of 0, and any
    version other than 5 are tagged ("has unsupported version 9"); the event goes on
    unchanged. GambolPutty shut itself down on another version and crashed on short
    packets. NetFlow v9 and IPFIX are not decoded: their records need the templates
    each exporter sent earlier, state that one process must see (``state: single``), so
    every config with this parser would need a queue of its own; and the ``netflow``
    package that decodes them has had no release since 2023.
    Bytes after the last record are ignored and counted as ``trailing_bytes``; an event
    without source_field goes on untouched (``missing_source``).
    """

    aliases = ("parser.NetFlow",)
    reads_raw_datagrams = True
    state: ClassVar[State] = "any"
    examples = [
        Example(
            options={"target_field": "netflow"},
            given=[{"data": encode_v5(_HEADER, [_PING, _SYN])}],
            expect=[
                {"netflow": _flow(_ZEROS, _HEADER, _PING, {"prot_name": "icmp", "tcp_flags": []})},
                {
                    "netflow": _flow(
                        _ZEROS, _HEADER, _SYN, {"prot_name": "tcp", "tcp_flags": ["SYN"]}
                    )
                },
            ],
            event_type=EVENT_TYPE,
            note="A packet with two flows: a ping and a TCP SYN.",
        ),
    ]

    def setup(self) -> None:
        self._source = field_path(self.options.source_field)
        self._target = field_path(self.options.target_field)
        self._drop_source = (
            not self.options.keep_original
            and self.options.source_field != self.options.target_field
        )

    def process(self, events: Batch) -> Batch:
        out: Batch = []
        for event in events:
            out.extend(self.decode_event(event, self._source))
        return out

    def decode_event(self, event: Event, path: FieldPath) -> Batch:
        """The events one packet makes: one per flow record, or the event tagged."""
        value = path.get(event)
        if value is MISSING:
            self.stats.incr("missing_source")
            return [event]
        try:
            decoded = decode_v5(as_bytes(value, "a NetFlow packet"))
        except ValueError as error:
            self.fail(event, f"'{path.dotted}' {error}")
            return [event]
        if decoded.trailing_bytes:
            self.stats.incr("trailing_bytes", decoded.trailing_bytes)
        if self._drop_source:
            path.delete(event)
        records = decoded.records
        events = [event, *(copy_event(event, branch) for branch in range(1, len(records)))]
        for each, record in zip(events, records, strict=True):
            self._target.set(each, record)
            set_event_type(each, EVENT_TYPE)
        return events
