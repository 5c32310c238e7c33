"""CollectdParser. Packets are built here from the protocol's description (independently of
the module's encoder), and a real collectd sends to a real ``gp-celery run``."""

from __future__ import annotations

import math
import os
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
from gp_celery.event import EVENT_ID, errors_of, metadata
from gp_celery.testing import BuildError, build, pipeline, run
from tests.conftest import wait_for

COLLECTD = shutil.which("collectd") or "/usr/sbin/collectd"
GP = str(Path(sys.executable).parent / "gp-celery")
HR = 2**30


def part(kind: int, body: bytes) -> bytes:
    return struct.pack(">HH", kind, 4 + len(body)) + body


def text(kind: int, value: str) -> bytes:
    return part(kind, value.encode() + b"\x00")


def number(kind: int, value: int) -> bytes:
    return part(kind, struct.pack(">Q", value))


def values(*typed: tuple[int, float | int]) -> bytes:
    formats = {0: ">Q", 1: "<d", 2: ">q", 3: ">Q"}
    body = struct.pack(">H", len(typed)) + bytes(code for code, _ in typed)
    body += b"".join(struct.pack(formats[code], value) for code, value in typed)
    return part(0x0006, body)


HEADER = text(0x0000, "web1") + number(0x0008, 1_700_000_000 * HR) + number(0x0009, 10 * HR)
LOAD = text(0x0002, "load") + text(0x0004, "load") + values((1, 0.5), (1, 0.25), (1, 0.125))
CPU = (
    text(0x0002, "cpu")
    + text(0x0003, "0")
    + text(0x0004, "cpu")
    + text(0x0005, "idle")
    + values((2, 12345))
)
PACKET = HEADER + LOAD + CPU


def parser(**options: Any) -> Any:
    return build("CollectdParser", options)


def reasons(event: dict[str, Any]) -> list[str]:
    return [error["reason"] for error in errors_of(event)]


def test_each_value_list_becomes_an_event_with_the_state_before_it() -> None:
    load, cpu = run(parser(), [{"data": PACKET}])
    assert load == {
        "host": "web1",
        "time": 1_700_000_000.0,
        "interval": 10.0,
        "plugin": "load",
        "type": "load",
        "values": [0.5, 0.25, 0.125],
        "dstypes": ["gauge", "gauge", "gauge"],
        "gambolputty": load["gambolputty"],
    }
    assert cpu["host"] == "web1"
    assert (cpu["plugin"], cpu["plugininstance"], cpu["type"], cpu["typeinstance"]) == (
        "cpu",
        "0",
        "cpu",
        "idle",
    )
    assert (cpu["values"], cpu["dstypes"]) == ([12345], ["derive"])


def test_copies_get_ids_derived_from_the_packets_event() -> None:
    first, second = run(parser(), [{"data": PACKET}])
    assert metadata(second)[EVENT_ID] == f"{metadata(first)[EVENT_ID]}.1"


@pytest.mark.parametrize(
    ("code", "raw", "name", "expected"),
    [
        (0, struct.pack(">Q", 2**64 - 1), "counter", 2**64 - 1),
        (1, struct.pack("<d", -1.5), "gauge", -1.5),
        (2, struct.pack(">q", -42), "derive", -42),
        (3, struct.pack(">Q", 7), "absolute", 7),
    ],
)
def test_each_data_source_type_is_read_in_its_byte_order(
    code: int, raw: bytes, name: str, expected: float
) -> None:
    packet = HEADER + part(0x0006, struct.pack(">H", 1) + bytes([code]) + raw)
    [event] = run(parser(), [{"data": packet}])
    assert (event["values"], event["dstypes"]) == ([expected], [name])


def test_gauge_nan_is_kept() -> None:
    [event] = run(parser(), [{"data": HEADER + values((1, math.nan))}])
    assert math.isnan(event["values"][0])


def test_plain_time_and_interval_are_seconds() -> None:
    packet = number(0x0001, 1_700_000_000) + number(0x0007, 60) + values((1, 1.0))
    [event] = run(parser(), [{"data": packet}])
    assert (event["time"], event["interval"]) == (1_700_000_000.0, 60.0)


def test_high_resolution_time_keeps_its_fraction() -> None:
    packet = number(0x0008, 1_700_000_000 * HR + HR // 4) + values((1, 1.0))
    [event] = run(parser(), [{"data": packet}])
    assert event["time"] == 1_700_000_000.25


@pytest.mark.parametrize(("code", "name"), [(1, "failure"), (2, "warning"), (4, "okay"), (9, 9)])
def test_a_notification_becomes_an_event_with_message_and_severity(code: int, name: Any) -> None:
    packet = HEADER + text(0x0002, "disk") + number(0x0101, code) + text(0x0100, "sda full")
    [event] = run(parser(), [{"data": packet}])
    assert (event["message"], event["severity"], event["plugin"]) == ("sda full", name, "disk")
    assert "values" not in event
    assert "interval" not in event


def test_target_field_and_keep_original() -> None:
    module = parser(target_field="collectd", keep_original=True)
    load, _cpu = run(module, [{"data": PACKET}])
    assert load["data"] == PACKET
    assert load["collectd"]["plugin"] == "load"


def test_source_field_is_removed_by_default() -> None:
    load, cpu = run(parser(), [{"data": PACKET}])
    assert "data" not in load
    assert "data" not in cpu


def test_surrogateescape_text_from_an_input_is_read_as_its_bytes() -> None:
    load, _cpu = run(parser(), [{"data": PACKET.decode("utf-8", "surrogateescape")}])
    assert load["values"] == [0.5, 0.25, 0.125]


def test_unknown_parts_are_skipped_and_counted() -> None:
    module = parser()
    [event] = run(module, [{"data": HEADER + part(0x0FFF, b"whatever") + LOAD}])
    assert event["plugin"] == "load"
    assert errors_of(event) == []
    assert module.stats.counts["unknown_parts"] == 1


def test_a_signature_is_skipped_unverified_and_counted() -> None:
    signature = part(0x0200, b"\x00" * 32 + b"user")
    module = parser()
    [event] = run(module, [{"data": signature + HEADER + LOAD}])
    assert event["plugin"] == "load"
    assert module.stats.counts["signed_unverified"] == 1


def test_more_value_lists_than_max_fan_out_tag_the_event() -> None:
    [event] = run(parser(max_fan_out=1), [{"data": PACKET}])
    assert reasons(event) == ["'data' holds 2 maps, over max_fan_out=1"]
    assert event["data"] == PACKET


def test_invalid_utf8_in_a_string_part_is_replaced() -> None:
    packet = part(0x0000, b"web\xff\x00") + LOAD
    [event] = run(parser(), [{"data": packet}])
    assert event["host"] == "web\ufffd"


@pytest.mark.parametrize(
    ("packet", "reason"),
    [
        (PACKET[:-3], "part 0x0006 at byte 115 claims 15 bytes, 12 are left"),
        (PACKET + b"\x00\x00", "ends inside a part header at byte 130"),
        (b"\x00\x02\x00\x03", "part 0x0002 at byte 0 claims 3 bytes, 4 are left"),
        (b"\x00\x02\xff\xff" + b"load\x00", "part 0x0002 at byte 0 claims 65535 bytes"),
        (part(0x0002, b"load") + LOAD, "part 0x0002 at byte 0: string without its closing NUL"),
        (part(0x0002, b"") + LOAD, "string without its closing NUL"),
        (part(0x0008, b"\x00" * 7) + LOAD, "a number part holds 8 bytes, not 7"),
        (part(0x0006, b"\x00"), "values part without its count"),
        (part(0x0006, b"\x00\x02\x01" + b"\x00" * 8), "2 values need 20 bytes, not 11"),
        (part(0x0006, b"\x00\x01\x07" + b"\x00" * 8), "unknown data-source type 7"),
        (part(0x0210, b"\x00\x04user" + b"\x00" * 40), "is encrypted (part 0x0210 at byte 0)"),
        (HEADER + text(0x0002, "load"), "holds no value list or notification"),
        (b"", "holds no value list or notification"),
        (b"not a collectd packet at all", "part 0x6e6f at byte 0 claims 29728 bytes"),
        (42, "is int, not a collectd packet"),
        (None, "is NoneType, not a collectd packet"),
        ([PACKET], "is list, not a collectd packet"),
        ("text \ud800", "is text with surrogates not allowed"),
    ],
)
def test_malformed_packets_are_tagged_and_left_unchanged(packet: Any, reason: str) -> None:
    out = run(parser(), [{"data": packet}, {"data": HEADER + LOAD}])
    assert len(out) == 2
    [tag] = reasons(out[0])
    assert tag.startswith("'data' ")
    assert reason in tag
    assert out[0]["data"] == packet
    assert out[1]["plugin"] == "load"


def test_an_oversize_packet_of_many_value_lists_decodes_them_all() -> None:
    packet = HEADER + text(0x0002, "load") + text(0x0004, "load") + values((1, 1.0)) * 4000
    out = run(parser(), [{"data": packet}])
    assert len(out) == 4000
    assert all(event["values"] == [1.0] for event in out)


def test_encode_makes_a_packet_the_decoder_reads_back() -> None:
    record = {
        "host": "web1",
        "time": 1_700_000_000.5,
        "interval": 10.0,
        "plugin": "cpu",
        "plugininstance": "0",
        "type": "cpu",
        "typeinstance": "idle",
        "values": [1, 2.5, -3, 4],
        "dstypes": ["counter", "gauge", "derive", "absolute"],
    }
    [encoded] = run(parser(action="encode", source_fields="all"), [record])
    [decoded] = run(parser(), [{"data": encoded["data"]}])
    assert {key: decoded[key] for key in record} == record


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"host": "h"}, "needs 'values'"),
        ({"values": [1], "dstypes": ["gauge", "gauge"]}, "needs 'dstypes' with one type"),
        ({"values": [1], "dstypes": ["rate"]}, "has a data-source type not in"),
        ({"values": [-1], "dstypes": ["counter"]}, "does not fit collectd's types"),
        ({"values": ["x"]}, "does not fit collectd's types"),
        ({"values": [1], "host": 5}, "'host' is int, not text"),
    ],
)
def test_what_cannot_be_encoded_is_tagged(record: dict[str, Any], reason: str) -> None:
    [event] = run(parser(action="encode", source_fields="all"), [record])
    assert reason in reasons(event)[0]
    assert "data" not in event


def test_lumbermill_alias_and_only_line_mode() -> None:
    assert type(build("parser.Collectd")).__name__ == "CollectdParser"
    with pytest.raises(BuildError, match="mode"):
        parser(mode="stream")


def test_a_udp_server_feeding_it_keeps_datagrams_whole_and_unstripped() -> None:
    """Datagram framing strips whitespace and replaces invalid UTF-8: both break packets."""
    packet = PACKET + values((1, math.inf)) + values((2, 0x0A20))  # b"\xf0\x7f", ends b"\n "
    config = parse_config("", "<test>", data=[{"UdpServer": {"port": 0}}, {"CollectdParser": {}}])
    udp = pipeline(config).nodes[config.nodes[0].id].module
    assert udp.framing.kind == "stream"
    [arrived] = run(udp, [{"data": packet}])
    assert arrived["data"].encode("utf-8", "surrogateescape") == packet
    assert errors_of(arrived) == []
    events = run(parser(), [arrived])
    assert [event["values"] for event in events[1:]] == [[12345], [math.inf], [0x0A20]]
    [alone] = run(build("UdpServer", {"port": 0}), [{"data": packet}])
    assert alone["data"] != packet  # what the datagram framing alone would have made of it


SHARED = parser()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=300), st.text(max_size=50)), max_size=5))
def test_random_bytes_never_raise_and_every_event_comes_back(packets: list[Any]) -> None:
    out = run(SHARED, [{"data": packet} for packet in packets])
    assert len(out) >= len(packets)


PARTS = st.sampled_from([HEADER, LOAD, CPU, text(0x0100, "m"), number(0x0101, 2), b"\x00"])


@settings(max_examples=300, deadline=None)
@given(st.lists(PARTS, max_size=8), st.integers(min_value=0, max_value=200))
def test_cut_and_joined_packets_never_raise_or_lose_events(parts: list[bytes], cut: int) -> None:
    packet = b"".join(parts)[: cut or None]
    out = run(SHARED, [{"data": packet}])
    if errors_of(out[0]):
        assert out == [out[0]]
        assert out[0]["data"] == packet
    else:
        assert all("data" not in event for event in out)


# -- a real collectd ---------------------------------------------------------------------------


def udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def gp_run(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """``gp-celery run`` with UdpServer -> CollectdParser -> FileSink (JSON lines)."""
    port, out = udp_port(), tmp_path / "events.jsonl"
    config = tmp_path / "pipeline.yml"
    config.write_text(
        f"- UdpServer:\n    interface: 127.0.0.1\n    port: {port}\n"
        "- CollectdParser: {}\n"
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


def test_a_real_collectd_reaches_gp_celery_run_as_parsed_events(
    gp_run: tuple[int, Path], tmp_path: Path
) -> None:
    port, out = gp_run
    assert os.access(COLLECTD, os.X_OK), f"collectd is not installed at {COLLECTD}"
    conf = tmp_path / "collectd.conf"
    conf.write_text(
        f'Hostname "gp-test"\nFQDNLookup false\nInterval 1\nBaseDir "{tmp_path}"\n'
        f'PIDFile "{tmp_path}/collectd.pid"\nPluginDir "/usr/lib/collectd"\n'
        'TypesDB "/usr/share/collectd/types.db"\n'
        f'LoadPlugin logfile\n<Plugin logfile>\n  File "{tmp_path}/collectd.log"\n</Plugin>\n'
        "LoadPlugin cpu\nLoadPlugin load\nLoadPlugin memory\nLoadPlugin network\n"
        f'<Plugin network>\n  Server "127.0.0.1" "{port}"\n  MaxPacketSize 1024\n</Plugin>\n'
    )
    collectd = subprocess.Popen([COLLECTD, "-f", "-C", str(conf)])
    try:

        def plugins() -> set[str]:
            if not out.exists():
                return set()
            lines = out.read_bytes().splitlines()
            return {orjson.loads(line).get("plugin", "") for line in lines}

        wait_for(lambda: {"cpu", "load", "memory"} <= plugins(), 30, "cpu, load and memory")
    finally:
        collectd.terminate()
        collectd.wait(timeout=30)
    events = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert all(errors_of(event) == [] for event in events)
    load = next(event for event in events if event.get("plugin") == "load")
    assert load["host"] == "gp-test"
    assert load["dstypes"] == ["gauge", "gauge", "gauge"]
    assert all(isinstance(value, float) and value >= 0 for value in load["values"])
    assert load["interval"] == 1.0
    cpu = next(event for event in events if event.get("plugin") == "cpu")
    assert cpu["dstypes"] == ["derive"]
    assert cpu["typeinstance"] in {"idle", "user", "system", "nice", "wait", "interrupt",
                                   "softirq", "steal"}  # fmt: skip
