"""NetFlowParser. Packets are built here from Cisco's v5 layout (independently of the
module's encoder); a real softflowd exports to a real ``gp-celery run``."""

from __future__ import annotations

import shutil
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gp_celery.config import parse_config
from gp_celery.event import EVENT_ID, errors_of, event_type, metadata
from gp_celery.testing import BuildError, build, pipeline, run
from tests.conftest import wait_for

GP = str(Path(sys.executable).parent / "gp-celery")
SOFTFLOWD = shutil.which("softflowd") or "/usr/sbin/softflowd"
SOFTFLOWCTL = shutil.which("softflowctl") or "/usr/sbin/softflowctl"


def header(count: int, version: int = 5, sequence: int = 77) -> bytes:
    # version, count, sys_uptime, unix_secs, unix_nsecs, flow_sequence, engine type/id, sampling
    return struct.pack(">HHIIIIBBH", version, count, 3_600_000, 1_700_000_000, 5, sequence,
                       1, 2, 0x4064)  # fmt: skip


def record(src: str = "195.137.224.22", dst: str = "10.0.0.1", prot: int = 1,
           flags: int = 0x02, srcport: int = 0, dstport: int = 0) -> bytes:  # fmt: skip
    addresses = socket.inet_aton(src) + socket.inet_aton(dst) + socket.inet_aton("10.0.0.254")
    # input, output, packets, octets, first, last, srcport, dstport
    numbers = struct.pack(">HHIIIIHH", 3, 4, 10, 840, 3_500_000, 3_599_000, srcport, dstport)
    # pad, tcp_flags, prot, tos, src_as, dst_as, src_mask, dst_mask, pad
    tail = struct.pack(">BBBBHHBBH", 0, flags, prot, 16, 64512, 65001, 24, 16, 0)
    return addresses + numbers + tail


def packet(*records: bytes) -> bytes:
    return header(len(records)) + b"".join(records)


PING = record()
SSH = record("10.0.0.2", "10.0.0.1", prot=6, flags=0x12, srcport=40000, dstport=22)
PACKET = packet(PING, SSH)


def parser(**options: Any) -> Any:
    return build("NetFlowParser", options)


def reasons(event: dict[str, Any]) -> list[str]:
    return [error["reason"] for error in errors_of(event)]


def test_the_spec_packet_decodes_to_an_icmp_flow_with_its_syn_flag() -> None:
    [event] = run(parser(), [{"data": packet(PING)}])
    assert event["data"]["srcaddr"] == "195.137.224.22"
    assert event["data"]["prot_name"] == "icmp"
    assert event["data"]["tcp_flags"] == ["SYN"]
    assert event_type(event) == "NetFlowV5"


def test_every_header_and_record_field_is_read_from_its_place_in_order() -> None:
    _ping, ssh = run(parser(), [{"data": PACKET}])
    expected = {
        "sys_uptime": 3_600_000,
        "unix_secs": 1_700_000_000,
        "unix_nsecs": 5,
        "flow_sequence": 77,
        "engine_type": 1,
        "engine_id": 2,
        "sampling_interval": 0x4064,
        "srcaddr": "10.0.0.2",
        "dstaddr": "10.0.0.1",
        "nexthop": "10.0.0.254",
        "snmp_index_in_interface": 3,
        "snmp_index_out_interface": 4,
        "packet_count": 10,
        "byte_count": 840,
        "uptime_start": 3_500_000,
        "uptime_end": 3_599_000,
        "srcport": 40000,
        "dstport": 22,
        "tcp_flags_binary": 0x12,
        "tcp_flags": ["SYN", "ACK"],
        "prot": 6,
        "prot_name": "tcp",
        "tos": 16,
        "src_as": 64512,
        "dst_as": 65001,
        "src_mask": 24,
        "dst_mask": 16,
    }
    assert ssh["data"] == expected
    assert list(ssh["data"]) == list(expected)  # the documented order, header first


def test_each_record_is_an_event_with_a_map_of_its_own_and_a_derived_id() -> None:
    ping, ssh = run(parser(), [{"data": PACKET}])
    assert (ping["data"]["prot_name"], ssh["data"]["prot_name"]) == ("icmp", "tcp")
    assert ping["data"] is not ssh["data"]
    ping["data"]["sys_uptime"] = -1
    assert ssh["data"]["sys_uptime"] == 3_600_000
    assert metadata(ssh)[EVENT_ID] == f"{metadata(ping)[EVENT_ID]}.1"
    assert event_type(ssh) == "NetFlowV5"


@pytest.mark.parametrize(
    ("flags", "names"),
    [
        (0x00, []),
        (0x01, ["FIN"]),
        (0x11, ["FIN", "ACK"]),
        (0x18, ["PUSH", "ACK"]),
        (0x04, ["RST"]),
        (0xFF, ["FIN", "SYN", "RST", "PUSH", "ACK", "URG", "ECE", "CWR"]),
    ],
)
def test_tcp_flags_are_named_lowest_bit_first(flags: int, names: list[str]) -> None:
    [event] = run(parser(), [{"data": packet(record(flags=flags))}])
    assert event["data"]["tcp_flags"] == names
    assert event["data"]["tcp_flags_binary"] == flags


@pytest.mark.parametrize(
    ("prot", "name"),
    [
        (0, "hopopt"),
        (17, "udp"),
        (47, "gre"),
        (58, "ipv6-icmp"),
        (132, "sctp"),
        (200, None),
        (255, None),
    ],
)
def test_protocol_names_come_from_the_shipped_iana_table(prot: int, name: str | None) -> None:
    [event] = run(parser(), [{"data": packet(record(prot=prot))}])
    assert (event["data"]["prot"], event["data"]["prot_name"]) == (prot, name)


def test_another_target_field_removes_the_source_unless_keep_original() -> None:
    [moved] = run(parser(target_field="netflow"), [{"data": packet(PING)}])
    assert "data" not in moved
    assert moved["netflow"]["srcaddr"] == "195.137.224.22"
    kept, _ = run(parser(target_field="flow.v5", keep_original=True), [{"data": PACKET}])
    assert kept["data"] == PACKET
    assert kept["flow"]["v5"]["dstaddr"] == "10.0.0.1"


def test_source_field_option_reads_another_field() -> None:
    [event] = run(parser(source_field="raw", target_field="nf"), [{"raw": packet(SSH)}])
    assert event["nf"]["dstport"] == 22
    assert "raw" not in event


def test_an_event_without_the_source_field_goes_on_untouched_and_is_counted() -> None:
    module = parser(source_field="raw")
    [event] = run(module, [{"data": PACKET}])
    assert event["data"] == PACKET
    assert errors_of(event) == []
    assert event_type(event) == "Unknown"
    assert module.stats.counts["missing_source"] == 1


def test_surrogateescape_text_from_an_input_is_read_as_its_bytes() -> None:
    ping, _ssh = run(parser(), [{"data": PACKET.decode("utf-8", "surrogateescape")}])
    assert ping["data"]["srcaddr"] == "195.137.224.22"


def test_bytes_after_the_last_record_are_ignored_and_counted() -> None:
    module = parser()
    [event] = run(module, [{"data": packet(PING) + b"\x00" * 5}])
    assert event["data"]["prot_name"] == "icmp"
    assert errors_of(event) == []
    assert module.stats.counts["trailing_bytes"] == 5


def test_a_full_datagram_of_records_decodes_them_all() -> None:
    count = (65_507 - 24) // 48  # the most a UDP datagram holds
    out = run(parser(), [{"data": packet(*[SSH] * count)}])
    assert len(out) == count == 1364
    assert all(event["data"]["dstport"] == 22 for event in out)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"", "is 0 bytes, too short for a NetFlow version and count"),
        (b"\x00\x05\x00", "is 3 bytes, too short for a NetFlow version and count"),
        (header(1)[:23], "is 23 bytes, shorter than the 24-byte v5 header"),
        (header(0), "holds no flow record (its count is 0)"),
        (header(2) + PING, "claims 2 records (120 bytes) but is 72 bytes (1 whole records)"),
        (PACKET[:-1], "claims 2 records (120 bytes) but is 119 bytes (1 whole records)"),
        (header(30) + PING[:20], "claims 30 records (1464 bytes) but is 44 bytes"),
        (header(65535) + PING, "claims 65535 records"),
        (header(1, version=9) + PING, "has unsupported version 9"),
        (header(1, version=10) + PING, "has unsupported version 10"),
        (header(1, version=1) + PING, "has unsupported version 1"),
        (b"GET / HTTP/1.1\r\n\r\n", "has unsupported version 18245"),
        (b"\xff\xfe\xfd\x80 invalid utf-8", "has unsupported version 65534"),
        (42, "is int, not a NetFlow packet"),
        (None, "is NoneType, not a NetFlow packet"),
        ([PACKET], "is list, not a NetFlow packet"),
        ({"srcaddr": "10.0.0.1"}, "is dict, not a NetFlow packet"),
        ("text \ud800", "is text with surrogates not allowed"),
    ],
)
def test_malformed_packets_are_tagged_and_left_unchanged(value: Any, reason: str) -> None:
    out = run(parser(), [{"data": value}, {"data": packet(PING)}])
    assert len(out) == 2
    [tag] = reasons(out[0])
    assert tag.startswith("'data' ")
    assert reason in tag
    assert out[0]["data"] == value
    assert event_type(out[0]) == "Unknown"
    assert out[1]["data"]["prot_name"] == "icmp"


def test_lumbermill_alias_and_unknown_options() -> None:
    assert type(build("parser.NetFlow")).__name__ == "NetFlowParser"
    with pytest.raises(BuildError, match="source_fields"):
        parser(source_fields=["data"])


def test_a_udp_server_feeding_it_keeps_datagrams_whole_and_unstripped() -> None:
    """Datagram framing strips whitespace and replaces invalid UTF-8: both break packets."""
    raw = packet(record(src="10.0.0.32", dst="192.168.0.255"), record(src="10.10.10.10"))
    config = parse_config("", "<test>", data=[{"UdpServer": {"port": 0}}, {"NetFlowParser": {}}])
    udp = pipeline(config).nodes[config.nodes[0].id].module
    assert udp.framing.kind == "stream"
    [arrived] = run(udp, [{"data": raw}])
    assert arrived["data"].encode("utf-8", "surrogateescape") == raw
    first, second = run(parser(), [arrived])
    assert (first["data"]["srcaddr"], second["data"]["srcaddr"]) == ("10.0.0.32", "10.10.10.10")
    [alone] = run(build("UdpServer", {"port": 0}), [{"data": raw}])
    assert alone["data"] != raw  # what the datagram framing alone would have made of it


SHARED = parser()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=300), st.text(max_size=60)), max_size=5))
def test_random_bytes_never_raise_and_every_event_comes_back(values: list[Any]) -> None:
    out = run(SHARED, [{"data": value} for value in values])
    assert len(out) >= len(values)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=0, max_value=12),
    st.integers(min_value=0, max_value=6),
    st.binary(min_size=0, max_size=48 * 6),
    st.integers(min_value=0, max_value=48 * 6 + 24),
)
def test_v5_headers_with_any_count_and_body_tag_or_make_one_event_per_record(
    version: int, count: int, body: bytes, cut: int
) -> None:
    raw = (header(count, version=version) + body)[: cut or None]
    out = run(SHARED, [{"data": raw}])
    if errors_of(out[0]):
        assert out == [out[0]]
        assert out[0]["data"] == raw
    else:
        assert len(out) == count
        assert all(event_type(event) == "NetFlowV5" for event in out)


# -- over UDP to gp-celery run: packets built here, and a real softflowd ----------------------


def udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def gp_run(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """``gp-celery run`` with UdpServer -> NetFlowParser -> FileSink (JSON lines)."""
    port, out = udp_port(), tmp_path / "events.jsonl"
    config = tmp_path / "pipeline.yml"
    config.write_text(
        f"- UdpServer:\n    interface: 127.0.0.1\n    port: {port}\n"
        "- NetFlowParser: {}\n"
        f"- FileSink:\n    file_name: {out}\n    json_lines: true\n"
    )
    log = (tmp_path / "gp.log").open("wb")
    process = subprocess.Popen([GP, "run", "-c", str(config)], stdout=log, stderr=log)
    try:
        wait_for(lambda: b"listening on" in (tmp_path / "gp.log").read_bytes(), 30, "gp-celery run")
        yield port, out
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


def read_events(out: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in out.read_bytes().splitlines()] if out.exists() else []


def test_v5_packets_sent_over_udp_reach_gp_celery_run_as_flow_events(
    gp_run: tuple[int, Path],
) -> None:
    port, out = gp_run
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.sendto(PACKET, ("127.0.0.1", port))
        sender.sendto(header(1, version=9) + PING, ("127.0.0.1", port))
        sender.sendto(packet(record(src="10.9.9.9", prot=17, flags=0)), ("127.0.0.1", port))
    wait_for(lambda: len(read_events(out)) == 4, 30, "4 events in the FileSink's file")
    events = read_events(out)
    flows = sorted(event["data"]["srcaddr"] for event in events if not errors_of(event))
    assert flows == ["10.0.0.2", "10.9.9.9", "195.137.224.22"]
    [tagged] = [event for event in events if errors_of(event)]
    assert "has unsupported version 9" in reasons(tagged)[0]
    udp = next(e for e in events if not errors_of(e) and e["data"]["srcaddr"] == "10.9.9.9")
    assert (udp["data"]["prot_name"], udp["data"]["tcp_flags"]) == ("udp", [])
    assert udp["gambolputty"]["event_type"] == "NetFlowV5"


def ethernet_ipv4(src: str, dst: str, protocol: int, payload: bytes) -> bytes:
    """An Ethernet frame with an IPv4 packet (checksum left 0: softflowd does not check)."""
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, 64, protocol, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))  # fmt: skip
    return b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00" + ip + payload


def write_pcap(path: Path, frames: list[bytes]) -> None:
    """A classic pcap file (link type Ethernet), one frame a second."""
    data = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    for second, frame in enumerate(frames):
        data += struct.pack("<IIII", 1_700_000_000 + second, 0, len(frame), len(frame)) + frame
    path.write_bytes(data)


def test_a_real_softflowd_export_reaches_gp_celery_run_as_flow_events(
    gp_run: tuple[int, Path], tmp_path: Path
) -> None:
    port, out = gp_run
    assert shutil.which(SOFTFLOWD), f"softflowd is not installed at {SOFTFLOWD} (scripts/test)"
    syn = struct.pack(">HHIIBBHHH", 40000, 22, 1, 0, 5 << 4, 0x02, 65535, 0, 0)
    dns = struct.pack(">HHHH", 5353, 53, 12, 0) + b"abcd"
    ping = struct.pack(">BBHHH", 8, 0, 0, 1, 1) + b"ping"
    pcap = tmp_path / "flows.pcap"
    write_pcap(pcap, [ethernet_ipv4("10.1.1.1", "10.2.2.2", 6, syn),
                      ethernet_ipv4("10.1.1.1", "10.2.2.2", 17, dns),
                      ethernet_ipv4("195.137.224.22", "10.2.2.2", 1, ping)])  # fmt: skip
    control = tmp_path / "softflowd.ctl"
    softflowd = subprocess.Popen(
        [
            SOFTFLOWD,
            "-d",
            "-v",
            "5",
            "-r",
            str(pcap),
            "-n",
            f"127.0.0.1:{port}",
            "-p",
            str(tmp_path / "softflowd.pid"),
            "-c",
            str(control),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(control.exists, 30, "softflowd's control socket")

        def exited() -> bool:
            # softflowd 1.1 with -r waits for a control command before each step over the
            # file; after its end it exports every flow it holds and exits.
            if softflowd.poll() is None:
                ask = [SOFTFLOWCTL, "-c", str(control), "statistics"]
                subprocess.run(ask, capture_output=True, check=False, timeout=30)
            return softflowd.poll() is not None

        wait_for(exited, 30, "softflowd to read the file, export and exit")
        assert softflowd.returncode == 0
        wait_for(lambda: len(read_events(out)) == 3, 30, "softflowd's 3 flows in the file")
    finally:
        if softflowd.poll() is None:
            softflowd.kill()
            softflowd.wait()
    events = read_events(out)
    assert all(errors_of(event) == [] for event in events)
    assert all(event["gambolputty"]["event_type"] == "NetFlowV5" for event in events)
    flows = {event["data"]["prot_name"]: event["data"] for event in events}
    assert set(flows) == {"tcp", "udp", "icmp"}
    assert (flows["tcp"]["srcport"], flows["tcp"]["dstport"]) == (40000, 22)
    assert flows["tcp"]["tcp_flags"] == ["SYN"]
    assert (flows["udp"]["srcport"], flows["udp"]["dstport"]) == (5353, 53)
    assert flows["icmp"]["srcaddr"] == "195.137.224.22"
    assert all(flow["packet_count"] == 1 for flow in flows.values())
    assert flows["tcp"]["byte_count"] == 40
