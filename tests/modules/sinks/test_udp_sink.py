"""UdpSink: one datagram per event to a real UDP socket; size limits and a missing receiver."""

from __future__ import annotations

import socket
from typing import Any

import orjson
import pytest

from gp_celery.testing import BuildError, build, run
from tests.modules.sinks.servers import DatagramReceiver


def test_each_event_is_one_json_datagram_with_a_newline(udp_receiver: DatagramReceiver) -> None:
    events = [{"data": f"line {n}", "n": n} for n in range(3)]
    assert run(build("UdpSink", {"address": udp_receiver.address}), events) == []
    datagrams = udp_receiver.receive(3)
    assert all(datagram.endswith(b"\n") for datagram in datagrams)
    assert [orjson.loads(datagram)["n"] for datagram in datagrams] == [0, 1, 2]


def test_format_sends_the_rendered_text(udp_receiver: DatagramReceiver) -> None:
    module = build("UdpSink", {"address": udp_receiver.address, "format": "$(a)-$(b)"})
    assert run(module, [{"a": 1, "b": "x"}]) == []
    assert udp_receiver.receive(1) == [b"1-x\n"]


def test_an_event_beyond_the_datagram_limit_fails_alone_and_is_not_retried(
    udp_receiver: DatagramReceiver,
) -> None:
    module = build("UdpSink", {"address": udp_receiver.address, "format": "$(data)"})
    failures = module.write([{"data": "x" * 70_000}, {"data": "small"}])
    assert [(f.index, f.retriable) for f in failures] == [(0, False)]
    assert "more than max_datagram_bytes (65507)" in failures[0].error
    assert udp_receiver.receive(2) == [b"small\n"]


def test_a_smaller_limit_counts_the_newline(udp_receiver: DatagramReceiver) -> None:
    module = build(
        "UdpSink",
        {"address": udp_receiver.address, "format": "$(data)", "max_datagram_bytes": 4},
    )
    failures = module.write([{"data": "abc"}, {"data": "abcd"}])
    assert [f.index for f in failures] == [1]
    assert udp_receiver.receive(2) == [b"abc\n"]


def test_a_receiver_that_is_not_listening_makes_the_rest_retriable() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    module = build("UdpSink", {"address": f"127.0.0.1:{port}"})
    failures = module.write([{"n": n} for n in range(5)])
    # The first datagram draws ICMP port unreachable; the kernel reports it on a later send.
    assert failures
    assert all(f.retriable for f in failures)
    assert "ConnectionRefusedError" in failures[0].error
    assert [f.index for f in failures] == list(range(failures[0].index, 5))


@pytest.mark.parametrize(
    "event",
    [
        {"n": 10**5000},
        {"data": "x" * 100_000},
    ],
)
def test_hostile_events_fail_alone_with_a_reason(
    udp_receiver: DatagramReceiver, event: dict[str, Any]
) -> None:
    failed = run(build("UdpSink", {"address": udp_receiver.address}), [event, {"data": "ok"}])
    assert len(failed) == 1
    assert failed[0]["gambolputty"]["errors"][0]["reason"]
    assert len(udp_receiver.receive(2)) == 1


def test_odd_values_are_converted_not_failed(udp_receiver: DatagramReceiver) -> None:
    event = {"data": b"\xff bytes", "s": {1}, "lone": "\udcff"}
    assert run(build("UdpSink", {"address": udp_receiver.address}), [event]) == []
    (datagram,) = udp_receiver.receive(1)
    assert orjson.loads(datagram)["s"] == [1]


@pytest.mark.parametrize("address", ["nohostport", "host:99999", ""])
def test_bad_addresses_are_refused_at_load(address: str) -> None:
    with pytest.raises(BuildError, match="address"):
        build("UdpSink", {"address": address})


def test_lumbermill_name_is_accepted() -> None:
    assert build("output.Udp", {"address": "127.0.0.1:514"}).name == "UdpSink"
