"""Sniffer on a real veth pair: packets sent from inside a network namespace the test
creates are captured on the pair's end in ours, and decoded."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gp_celery.event import META, RECEIVED_FROM
from gp_celery.testing import BuildError, build
from gp_celery_inputs.sniffer.decode import decode_frame
from tests.conftest import wait_for
from tests.inputs.conftest import EmitRecorder, ServeFactory, Serving, errors
from tests.inputs.netns import Veth, veth_pair


@pytest.fixture
def veth() -> Iterator[Veth]:
    with veth_pair() as pair:
        yield pair


def udp_server(veth: Veth) -> socket.socket:
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind((veth.near_ip, 0))
    return server


def test_udp_and_tcp_from_the_namespace_are_decoded(veth: Veth, serve_input: ServeFactory) -> None:
    serving = serve_input("Sniffer", {"interface": veth.near, "packetfilter": "udp or tcp"})
    with udp_server(veth) as receiver, socket.socket() as listener:
        listener.bind((veth.near_ip, 0))
        listener.listen()
        accepted: list[bytes] = []

        def accept() -> None:
            connection, _ = listener.accept()
            with connection:
                accepted.append(connection.recv(100))

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        udp_port, tcp_port = receiver.getsockname()[1], listener.getsockname()[1]
        started(serving)
        veth.send_udp(udp_port, [b"hello sniffer"])
        veth.run_inside(
            "import socket\n"
            f"c = socket.create_connection(({veth.near_ip!r}, {tcp_port}), timeout=10)\n"
            "c.sendall(b'tcp payload'); c.close()\n"
        )
        thread.join(10)
        assert accepted == [b"tcp payload"]

    def seen(predicate: Any) -> list[dict[str, Any]]:
        return [event for event in serving.emit.events if predicate(event)]

    wait_for(lambda: bool(seen(lambda e: e.get("data") == "tcp payload")), 10, "the TCP data")
    (udp,) = seen(lambda event: event.get("d_port") == udp_port)
    assert {key: udp[key] for key in UDP_FIELDS} == {
        "protocols": ["ethernet", "IPv4", "UDP"],
        "source_mac": veth.far_mac,
        "destination_mac": veth.near_mac,
        "ethertype": "0x800",
        "ip_version": 4,
        "s_ip": veth.far_ip,
        "d_ip": veth.near_ip,
        "ttl": 64,
        "ip_protocol": 17,
        "s_port": 40001,
        "d_port": udp_port,
        "data": "hello sniffer",
        "packet_size": 14 + 20 + 8 + 13,
        "interface": veth.near,
        "packet_type": "host",
    }
    assert udp[META][RECEIVED_FROM] == veth.near
    assert errors(udp) == []
    to_server = seen(lambda event: event.get("d_port") == tcp_port)
    syn = to_server[0]
    assert syn["protocols"] == ["ethernet", "IPv4", "TCP"]
    assert syn["tcp_flags"] == ["syn"]
    (data,) = seen(lambda event: event.get("data") == "tcp payload")
    assert set(data["tcp_flags"]) >= {"psh", "ack"}
    assert data["sequence_number"] == syn["sequence_number"] + 1
    (syn_ack,) = seen(lambda event: event.get("tcp_flags") == ["syn", "ack"])
    assert syn_ack["packet_type"] == "outgoing"  # what we sent back is captured too
    assert syn_ack["s_port"] == tcp_port


UDP_FIELDS = (
    *("protocols", "source_mac", "destination_mac", "ethertype", "ip_version", "s_ip"),
    *("d_ip", "ttl", "ip_protocol", "s_port", "d_port", "data", "packet_size", "interface"),
    "packet_type",
)


def started(serving: Serving) -> None:
    """Until the input captures (packets sent before are not captured)."""
    wait_for(lambda: serving.module.capturing, 15, "the Sniffer to capture")


def test_the_packet_filter_runs_in_the_kernel(veth: Veth, serve_input: ServeFactory) -> None:
    with udp_server(veth) as wanted, udp_server(veth) as other:
        port = wanted.getsockname()[1]
        serving = serve_input(
            "Sniffer", {"interface": veth.near, "packetfilter": f"udp dst port {port}"}
        )
        started(serving)
        veth.send_udp(other.getsockname()[1], [b"not this"])
        veth.send_udp(port, [b"this"], source_port=40002)
        serving.emit.wait_for(1)
        assert serving.emit.data == ["this"]
        assert serving.emit.settle(quiet=0.3) == serving.emit.events[:1]


def ipv4_header(total_length: int, protocol: int) -> bytes:
    return struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, total_length, 1, 0, 64, protocol, 0,
        socket.inet_aton("10.9.9.1"), socket.inet_aton("10.9.9.2"),
    )  # fmt: skip


MALFORMED = {
    "garbage where IPv4 should be": (0x0800, b"\x42" + b"\xff" * 40, ["IPv4 header not decoded"]),
    "garbage where IPv6 should be": (
        0x86DD,
        b"\x60\x00" + b"\xfe" * 20,
        ["IPv6 header not decoded"],
    ),
    "IPv4 longer than the frame": (
        0x0800,
        ipv4_header(1000, 17) + b"\x00" * 30,
        ["truncated IPv4 packet (50 of 1000 bytes)"],
    ),
    "TCP header cut short": (
        0x0800,
        ipv4_header(23, 6) + b"\x01\x02\x03",
        ["TCP header not decoded"],
    ),
    "unknown ethertype": (0x1234, b"\xde\xad\xbe\xef" * 12, []),
}


def test_malformed_frames_are_tagged_and_capture_goes_on(
    veth: Veth, serve_input: ServeFactory
) -> None:
    serving = serve_input("Sniffer", {"interface": veth.near, "packetfilter": "not arp"})
    started(serving)
    frames = [veth.ethernet(ethertype, payload) for ethertype, payload, _ in MALFORMED.values()]
    veth.send_frames(frames)
    with udp_server(veth) as receiver:
        veth.send_udp(receiver.getsockname()[1], [b"still capturing"])
        events = serving.emit.wait_for(len(MALFORMED) + 1)
    assert [errors(event) for event in events[: len(MALFORMED)]] == [
        reasons for _, _, reasons in MALFORMED.values()
    ]
    assert events[0]["protocols"] == ["ethernet"]
    assert events[0]["source_mac"] == veth.far_mac
    assert events[2]["protocols"] == ["ethernet", "IPv4", "UDP"]  # what there is of it
    assert events[4]["ethertype"] == "0x1234"
    assert events[4]["data"] == (b"\xde\xad\xbe\xef" * 12).decode("utf-8", "surrogateescape")
    assert events[-1]["data"] == "still capturing"
    assert serving.module.stats.counts["malformed_packets"] == 4


def test_a_frame_longer_than_max_packet_bytes_is_cut_and_tagged(
    veth: Veth, serve_input: ServeFactory
) -> None:
    options = {"interface": veth.near, "packetfilter": "udp", "max_packet_bytes": 100}
    serving = serve_input("Sniffer", options)
    started(serving)
    with udp_server(veth) as receiver:
        veth.send_udp(receiver.getsockname()[1], [b"x" * 1000])
        (event,) = serving.emit.wait_for(1)
    assert errors(event) == ["frame longer than max_packet_bytes=100; cut"]
    assert event["packet_size"] == 100
    assert event["data"] == "x" * (100 - 42)


def test_packets_the_kernel_drops_while_the_pipeline_is_behind_are_counted(
    veth: Veth, serve_input: ServeFactory
) -> None:
    gate = threading.Event()
    serving = serve_input("Sniffer", {"interface": veth.near, "packetfilter": "udp"}, gate=gate)
    started(serving)
    sent = 10_000  # 14 MB: more than the socket's 8 MiB receive buffer holds
    with udp_server(veth) as receiver:
        port = receiver.getsockname()[1]
        veth.send_udp(port, [b"first"])
        serving.emit.wait_for(1)  # emit() now waits for the gate: nothing is read
        veth.send_udp(port, [b"y" * 1400], source_port=40003, repeat=sent - 1)
        gate.set()
        counts = serving.module.stats.counts
        wait_for(
            lambda: len(serving.emit.events) + counts["dropped_packets"] >= sent,
            20,
            "every packet received or counted as dropped",
        )
    assert counts["dropped_packets"] > 0
    assert len(serving.emit.settle(quiet=0.3)) + counts["dropped_packets"] == sent


def test_stopping_sends_on_what_was_already_captured(veth: Veth, serve_input: ServeFactory) -> None:
    gate = threading.Event()
    serving = serve_input("Sniffer", {"interface": veth.near, "packetfilter": "udp"}, gate=gate)
    started(serving)
    with udp_server(veth) as receiver:
        port = receiver.getsockname()[1]
        veth.send_udp(port, [b"first"])
        serving.emit.wait_for(1)  # emit() now waits for the gate: the rest waits in the socket
        veth.send_udp(port, [b"%d" % number for number in range(50)], source_port=40004)
    serving.cancel()
    serving.emit.wait_for(51)
    gate.set()
    serving.join()
    assert serving.emit.data == ["first", *(str(number) for number in range(50))]


def test_packet_count_ends_the_capture(veth: Veth) -> None:
    module = build("Sniffer", {"interface": veth.near, "packetfilter": "udp", "packet_count": 2})
    serving = Serving(module, EmitRecorder())
    started(serving)
    with udp_server(veth) as receiver:
        veth.send_udp(receiver.getsockname()[1], [b"1", b"2", b"3"])
    serving.join()
    assert serving.emit.data == ["1", "2"]


def test_decoded_fields_can_go_into_one_field(veth: Veth, serve_input: ServeFactory) -> None:
    options = {"interface": veth.near, "packetfilter": "udp", "target_field": "packet"}
    serving = serve_input("Sniffer", options)
    started(serving)
    with udp_server(veth) as receiver:
        veth.send_udp(receiver.getsockname()[1], [b"inside"])
        (event,) = serving.emit.wait_for(1)
    assert event["packet"]["data"] == "inside"
    assert event["data"] == ""


def test_a_missing_interface_is_a_clear_error() -> None:
    serving = Serving(build("Sniffer", {"interface": "gpnosuch0"}), EmitRecorder())
    with pytest.raises(OSError, match="cannot capture on gpnosuch0: No such device"):
        serving.join()


def test_lumbermill_options_are_accepted_as_written() -> None:
    module = build(
        "input.Sniffer",
        {
            "interface": "any",
            "protocols": ["Data"],
            "packetfilter": None,
            "promiscous": False,
            "target_field": None,
            "key_value_store": None,
        },
    )
    assert module.name == "Sniffer"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"packetfilter": "udp and and"}, "tcpdump cannot compile it: can't parse filter "),
        ({"packetfilter": "-w /tmp/x"}, "tcpdump cannot compile it"),
        ({"interface": "eth0/../x"}, "expected an interface name"),
        ({"interface": "a-name-longer-than-15"}, "expected an interface name"),
        ({"max_packet_bytes": 10}, "greater than or equal to 64"),
    ],
)
def test_bad_options_are_refused_at_load(options: dict[str, object], message: str) -> None:
    with pytest.raises(BuildError, match=message):
        build("Sniffer", options)


ETHERTYPES = [0x0800, 0x86DD, 0x0806, 0x8100, 0x88A8, 0x8847, 0x8848, 0x8863, 0x88CC, 0x0005]
"""Ones dpkt decodes further (IPv4/6, ARP, VLAN, MPLS, PPPoE, LLDP, 802.3 lengths): where
garbage once made it raise IndexError or AttributeError."""


@settings(max_examples=200, deadline=None)
@given(
    ethertype=st.sampled_from(ETHERTYPES) | st.integers(0, 0xFFFF),
    body=st.binary(max_size=120),
    link_type=st.sampled_from([1, 772, 65534]),
)
def test_decoding_random_frames_never_raises(ethertype: int, body: bytes, link_type: int) -> None:
    frame = b"\x02" * 12 + struct.pack("!H", ethertype) + body
    for cut in (frame, frame[:13]):
        fields, problems = decode_frame(cut, link_type)
        assert fields["packet_size"] == len(cut)
        assert isinstance(fields["data"], str)
        assert all(isinstance(problem, str) for problem in problems)


def test_promiscuous_mode_is_on_while_capturing(veth: Veth, serve_input: ServeFactory) -> None:
    def promiscuous() -> bool:
        flags = int(Path(f"/sys/class/net/{veth.near}/flags").read_text(), 16)
        return bool(flags & 0x100)  # IFF_PROMISC

    assert not promiscuous()
    serving = serve_input("Sniffer", {"interface": veth.near, "promiscous": True})
    started(serving)
    assert promiscuous()
    serving.stop()
    assert not promiscuous()
