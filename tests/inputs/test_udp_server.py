from __future__ import annotations

import asyncio
import socket
import subprocess
import threading
import time

import pytest

from gp_celery.event import META, RECEIVED_FROM, SOURCE_MODULE
from gp_celery.framing import INVALID_UTF8
from gp_celery.testing import BuildError, build
from tests.inputs.conftest import EmitRecorder, ServeFactory, errors

LOCAL = {"interface": "127.0.0.1", "port": 0}


def send(port: int, *datagrams: bytes) -> str:
    """Send datagrams from one socket; return its 'ip:port'."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        for number, datagram in enumerate(datagrams, 1):
            sock.sendto(datagram, ("127.0.0.1", port))
            if number % 100 == 0:  # UDP may drop in the kernel; that is not what we test here
                time.sleep(0.002)
        host, port = sock.getsockname()
        return f"{host}:{port}"


def test_a_datagram_from_nc_is_one_stripped_event(serve_input: ServeFactory) -> None:
    serving = serve_input("UdpServer", LOCAL)
    subprocess.run(
        ["nc", "-u", "-q0", "127.0.0.1", str(serving.port)],
        input=b"hello udp\n",
        timeout=10,
        check=True,
    )
    (event,) = serving.emit.wait_for(1)
    assert event["data"] == "hello udp"
    assert event[META][SOURCE_MODULE] == "UdpServer"
    assert event[META][RECEIVED_FROM].startswith("127.0.0.1:")


def test_syslog_from_logger_arrives(serve_input: ServeFactory) -> None:
    serving = serve_input("UdpServer", LOCAL)
    subprocess.run(
        [
            *("logger", "--udp", "--server", "127.0.0.1", "--port", str(serving.port)),
            *("--rfc3164", "--tag", "gptest", "spanish inquisition"),
        ],
        timeout=10,
        check=True,
    )
    (event,) = serving.emit.wait_for(1)
    assert event["data"].startswith("<13>")
    assert event["data"].endswith("gptest: spanish inquisition")


def test_many_datagrams_lose_nothing_and_name_their_sender(serve_input: ServeFactory) -> None:
    serving = serve_input("UdpServer", LOCAL)
    sent = [f"datagram {n}".encode() for n in range(1000)]
    peer = send(serving.port, *sent)
    events = serving.emit.wait_for(1000)
    assert len(serving.emit.settle()) == 1000
    assert sorted(event["data"] for event in events) == sorted(d.decode() for d in sent)
    assert {event[META][RECEIVED_FROM] for event in events} == {peer}


HOSTILE = {
    "invalid UTF-8": (b"bad \xff\xfe", "bad \ufffd\ufffd", [INVALID_UTF8]),
    "NULs and binary": (b"\x00\x01\x80garbage\x00", "\x00\x01\ufffdgarbage\x00", [INVALID_UTF8]),
    "empty datagram": (b"", "", []),
    "whitespace only": (b" \r\n\t", "", []),
    "oversize": (
        b"x" * 2000,
        "x" * 1000,
        ["datagram of 2000 bytes exceeds max_datagram_bytes=1000; truncated"],
    ),
}


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
def test_hostile_datagrams_are_data_and_tagged_not_lost(
    serve_input: ServeFactory, case: str
) -> None:
    raw, expected, reasons = HOSTILE[case]
    serving = serve_input("UdpServer", {**LOCAL, "max_datagram_bytes": 1000})
    send(serving.port, raw, b"next")
    events = serving.emit.wait_for(2)
    assert len(serving.emit.settle()) == 2
    assert [event["data"] for event in events] == [expected, "next"]
    assert errors(events[0]) == reasons
    assert errors(events[1]) == []


def test_datagrams_beyond_the_queue_are_counted_as_dropped(serve_input: ServeFactory) -> None:
    gate = threading.Event()
    serving = serve_input("UdpServer", LOCAL, gate=gate)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for n in range(30_000):
            sock.sendto(b"%d" % n, ("127.0.0.1", serving.port))
            if n % 500 == 0:
                threading.Event().wait(0.002)  # let the loop take them off the socket
    counts = serving.module.stats.counts
    seen = -1
    while counts["dropped_datagrams"] != seen:  # until the socket is drained
        seen = counts["dropped_datagrams"]
        threading.Event().wait(0.3)
    gate.set()
    received = len(serving.emit.settle())
    dropped = serving.module.stats.counts["dropped_datagrams"]
    assert dropped > 0
    assert received <= 10_000 + 500  # the queue, plus the batch that was waiting in emit
    assert received + dropped <= 30_000  # the rest, if any, the kernel dropped


def test_stopping_sends_what_was_already_received(serve_input: ServeFactory) -> None:
    gate = threading.Event()
    serving = serve_input("UdpServer", LOCAL, gate=gate)
    send(serving.port, b"first")
    serving.emit.wait_for(1)  # emit() now waits for the gate
    send(serving.port, b"second", b"third")
    threading.Event().wait(0.2)
    serving.cancel()
    serving.emit.wait_for(3)  # the queued datagrams were flushed, not lost
    gate.set()
    serving.join()
    assert serving.emit.data == ["first", "second", "third"]


def test_bind_failure_names_the_address() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        module = build("UdpServer", {"interface": "127.0.0.1", "port": port})
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}"):
            asyncio.run(module.serve(EmitRecorder()))


def test_gambolputty_options_are_accepted_as_written() -> None:
    module = build("input.Udp", {"interface": "0.0.0.0", "port": 5151, "timeout": None})
    assert module.options.max_datagram_bytes == 65535


@pytest.mark.parametrize("options", [{"port": 70000}, {"max_datagram_bytes": 0}, {"tls": True}])
def test_bad_options_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(BuildError):
        build("UdpServer", options)
