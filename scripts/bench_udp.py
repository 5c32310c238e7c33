"""UDP bursts: how many syslog-sized datagrams one UdpServer takes, and what it counts lost.

A sender process sends ``count`` datagrams of 200 bytes to a receiver on loopback: as fast
as it can, then paced at stepped rates to find the highest rate at which nothing is lost.
Receivers, in the same run: `gp-celery run` with UdpServer -> DevNullSink, with its default
receive buffer and with the kernel's default (``receive_buffer_bytes: 0``), and a bare
Python loop of blocking ``recvfrom`` calls that only counts (the ceiling of a Python reader);
then the burst alone into a 128 MiB buffer.
Every run is checked to account for every datagram: received + counted as dropped == sent.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench_common import GP, OUT, ROOT, say

SIZE = 200
RATES = (10_000, 15_000, 20_000, 30_000, 50_000, 75_000, 100_000, 150_000, 200_000, 300_000)
"""Paced send rates tried, slowest first, until one loses datagrams."""

SENDER = """
import socket, sys, time
port, count, rate, size = map(int, sys.argv[1:])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.connect(("127.0.0.1", port))
head = b"<13>Dec  1 10:00:00 web1 app[4242]: message "
pad = b" " + b"x" * (size - len(head) - 10)
payloads = [head + b"%09d" % n + pad for n in range(count)]
send = sock.send
started, wall = time.perf_counter(), time.time()
if rate:
    for n in range(0, count, 50):
        wait = started + n / rate - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        for payload in payloads[n : n + 50]:
            send(payload)
else:
    for payload in payloads:
        send(payload)
print(wall, time.perf_counter() - started)
"""

BARE = """
import signal, socket, struct, sys
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, 33, 32 << 20)  # SO_RCVBUFFORCE, as UdpServer's default
sock.bind(("127.0.0.1", 0))
print(sock.getsockname()[1], flush=True)
received = 0
try:
    while True:
        sock.recvfrom(65536)
        received += 1
except KeyboardInterrupt:
    drops = struct.unpack_from("I", sock.getsockopt(socket.SOL_SOCKET, 55, 36), 32)[0]
    print(received, drops, flush=True)
"""


@dataclass
class Result:
    sent: int
    send_secs: float
    read_secs: float
    """From the first datagram sent to the socket read empty."""
    received: int
    kernel_dropped: int
    dropped: int

    @property
    def lost(self) -> int:
        return self.kernel_dropped + self.dropped

    @property
    def send_rate(self) -> float:
        return self.sent / self.send_secs

    @property
    def read_rate(self) -> float:
        """Datagrams taken per second while the burst lasted."""
        return self.received / self.read_secs


def unread_bytes(port: int) -> int:
    for row in Path("/proc/net/udp").read_text().splitlines()[1:]:
        fields = row.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port:
            return int(fields[4].split(":")[1], 16)
    return 0


def send(port: int, count: int, rate: int) -> tuple[float, float]:
    """Send; return when the sender started (epoch seconds) and how long it took."""
    done = subprocess.run(
        [sys.executable, "-c", SENDER, str(port), str(count), str(rate), str(SIZE)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    started, secs = map(float, done.stdout.split())
    return started, secs


def drained(port: int) -> float:
    """When the receiver had read everything (epoch seconds)."""
    deadline = time.monotonic() + 60
    while unread_bytes(port) and time.monotonic() < deadline:
        time.sleep(0.01)
    at = time.time()
    time.sleep(0.2)  # the last datagrams read are handed on
    return at


class GpReceiver:
    """`gp-celery run`: UdpServer -> DevNullSink; counts from the node's end-of-run line."""

    def __init__(self, buffer: int | None) -> None:
        OUT.mkdir(exist_ok=True)
        config = OUT / "udp.yml"
        option = "" if buffer is None else f"   receive_buffer_bytes: {buffer}\n"
        config.write_text(
            f"- UdpServer:\n   interface: 127.0.0.1\n   port: 0\n{option}- DevNullSink: {{}}\n"
        )
        self.log = OUT / "udp.log"
        with self.log.open("wb") as stderr:
            self.process = subprocess.Popen([GP, "run", "-c", str(config)], cwd=ROOT, stderr=stderr)
        deadline = time.monotonic() + 60
        while not (found := re.search(r"\(port (\d+)\)", self.log.read_text())):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit(f"gp-celery run did not start: {self.log.read_text()}")
            time.sleep(0.05)
        self.port = int(found.group(1))

    def stop(self) -> tuple[int, int, int]:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)
        text = self.log.read_text()
        line = re.search(r"UdpServer: (events_in .*)\.$", text, re.MULTILINE)
        if line is None:
            raise SystemExit(f"no counters for UdpServer in: {text}")
        counts = {name: int(value) for name, value in re.findall(r"(\w+) (\d+)", line.group(1))}
        return (
            counts["events_in"],
            counts.get("kernel_dropped_datagrams", 0),
            counts.get("dropped_datagrams", 0),
        )


class BareReceiver:
    """A bare Python loop of blocking recvfrom calls, counting; the kernel's drops at the end."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", BARE], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())

    def stop(self) -> tuple[int, int, int]:
        self.process.send_signal(signal.SIGINT)
        out, _ = self.process.communicate(timeout=60)
        received, drops = map(int, out.split())
        return received, drops, 0


Receiver = GpReceiver | BareReceiver
Start = Callable[[], Receiver]


def one_run(start: Start, count: int, rate: int) -> Result:
    receiver = start()
    try:
        began, secs = send(receiver.port, count, rate)
        empty = drained(receiver.port)
    finally:
        received, kernel, dropped = receiver.stop()
    result = Result(count, secs, empty - began, received, kernel, dropped)
    if received + result.lost != count:
        raise SystemExit(f"{received} received + {result.lost} counted lost != {count} sent")
    return result


def highest_lossless(start: Start, count: int) -> str:
    """The highest rate the sender kept up, paced at one of RATES, with nothing lost."""
    best = ""
    for rate in RATES:
        result = one_run(start, count, rate)
        say(f"udp: {rate:,}/s asked, {result.send_rate:,.0f}/s sent: {result.lost:,} lost")
        if result.lost:
            return best or f"none (lost {result.lost:,} at {result.send_rate:,.0f}/s)"
        best = f"{result.send_rate:,.0f}"
        if result.send_rate < 0.9 * rate:  # the sender cannot go faster: the bound is ours
            return f"≥ {best} (sender-bound)"
    return best


def big() -> Receiver:
    return GpReceiver(128 << 20)


def run_udp(count: int) -> str:
    sides: list[tuple[str, Start]] = [
        ("gp-celery, `receive_buffer_bytes` default (32 MiB)", lambda: GpReceiver(None)),
        ("gp-celery, `receive_buffer_bytes: 0` (kernel default)", lambda: GpReceiver(0)),
        ("bare Python `recvfrom` loop, 32 MiB buffer", BareReceiver),
        ("gp-celery, `receive_buffer_bytes: 134217728` (128 MiB; burst only)", big),
    ]
    rows = []
    for name, start in sides:
        before = uptime()
        burst = one_run(start, count, 0)
        say(f"udp: {name}: burst sent at {burst.send_rate:,.0f}/s: {burst.lost:,} lost")
        best = "-" if start is big else highest_lossless(start, count)
        rows.append(
            f"| {name} | {burst.send_rate:,.0f} | {burst.received:,} | {burst.kernel_dropped:,} "
            f"| {burst.dropped:,} | {burst.read_rate:,.0f} | {best} | {before} / {uptime()} |"
        )
    measured = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return "\n".join(
        [
            "## UDP bursts",
            "",
            f"Measured {measured}.",
            "",
            f"{count:,} datagrams of {SIZE} bytes (a syslog line) from a separate sender process "
            "on loopback; first as fast as it can send (the burst), then paced at "
            f"{', '.join(f'{rate // 1000}k' for rate in RATES)} datagrams/s until a rate loses "
            "any. gp-celery is `gp-celery run` with UdpServer -> DevNullSink (embedded mode: "
            "the pipeline runs in the loop that reads the socket, so the receive buffer "
            "holds the burst meanwhile). Every run accounts for every datagram: received + "
            "kernel-dropped + dropped in the process == sent. Load: the 1-minute load average "
            "before / after each receiver's runs (2 cores, shared with other work).",
            "",
            "| receiver | burst: sent/s | received | kernel-dropped | dropped in process "
            "| taken/s | paced: highest datagrams/s with no loss | load |",
            "|---|---|---|---|---|---|---|---|",
            *rows,
        ]
    )


def uptime() -> str:
    return Path("/proc/loadavg").read_text().split()[0]
