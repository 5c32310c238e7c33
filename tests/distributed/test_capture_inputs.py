"""Zmq, Sniffer and NmapScanner as users run them: `gp-celery run` (embedded), and a real
`gp-celery listen` with a real Celery worker (distributed), each writing JSON lines."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import zmq

from tests.conftest import ROOT, RedisServer, StartWorker, wait_for
from tests.distributed.conftest import FAST_BATCHES, GP, WORKER_ENV, sink_events, write_config
from tests.inputs.netns import Veth, veth_pair


@dataclass
class Process:
    """A `gp-celery run` or `gp-celery listen` we started; its log goes to a file."""

    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def port(self, label: str) -> int:
        match = re.search(rf"{label}: listening on \S+ \(port (\d+)\)", self.output())
        assert match, self.output()
        return int(match.group(1))

    def terminate(self, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


@pytest.fixture
def start_gp(tmp_path: Path) -> Iterator[Any]:
    """``start_gp("run" | "listen", config, ready, broker_url="")``: started, and ready
    once every text of ``ready`` is in its log; killed at the end of the test if still
    running."""
    started: list[Process] = []

    def start(command: str, config: Path, ready: tuple[str, ...], broker_url: str = "") -> Process:
        log = tmp_path / f"{command}-{len(started)}.log"
        args = [GP, command, "-c", str(config)]
        if broker_url:
            args += ["--broker", broker_url]
        with log.open("wb") as output:
            process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env={**os.environ, **({"GP_BROKER_URL": broker_url} if broker_url else {})},
                start_new_session=True,
            )
        running = Process(process, log)
        started.append(running)
        wait_for(
            lambda: all(map(running.output().__contains__, ready)) or process.poll() is not None,
            30,
            f"gp-celery {command} to log {ready} (log: {log})",
        )
        assert process.poll() is None, running.output()
        return running

    yield start
    for running in started:
        if running.process.poll() is None:
            os.killpg(running.process.pid, signal.SIGKILL)
            running.process.wait(timeout=10)


def push_messages(port: int, count: int) -> None:
    context: zmq.Context[Any] = zmq.Context()
    try:
        push = context.socket(zmq.PUSH)
        push.setsockopt(zmq.LINGER, 10_000)
        push.connect(f"tcp://127.0.0.1:{port}")
        for number in range(count):
            push.send(b"zmq message %d" % number)
        push.send(b"bad \xff")
        push.close()  # lingers until every message has left
    finally:
        context.term()


def check_zmq_events(events: list[dict[str, Any]], count: int) -> None:
    assert len(events) == count + 1
    assert [event["data"] for event in events[:count]] == [f"zmq message {n}" for n in range(count)]
    assert events[-1]["data"] == "bad \ufffd"
    assert [error["reason"] for error in events[-1]["gambolputty"]["errors"]] == [
        "invalid UTF-8 replaced"
    ]


@pytest.fixture
def veth() -> Iterator[Veth]:
    with veth_pair() as pair:
        yield pair


@pytest.fixture
def open_port() -> Iterator[int]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def all_three_config(directory: Path, out: Path, veth: Veth, port: int) -> Path:
    """ZeroMQ messages, a capture on the veth pair and one scan of this host's port, all
    into one file."""
    return write_config(
        directory,
        f"""{FAST_BATCHES}- input.ZeroMQ:
   address: 127.0.0.1:0
   receivers: [FileSink]
- Sniffer:
   interface: {veth.near}
   packetfilter: ip
   receivers: [FileSink]
- NmapScanner:
   network: 127.0.0.1
   netmask: /32
   ports: '{port}'
   arguments: -sT -Pn
   scans: 1
   receivers: [FileSink]
- FileSink:
   file_name: {out}
   json_lines: true
""",
    )


READY = ("Zmq: listening on", "Sniffer: capturing on")
ZMQ_MESSAGES = 3000


def send_and_check(veth: Veth, out: Path, zmq_port: int, open_port: int) -> None:
    """What each input is sent, and then what the file must hold: every message, packet
    and scanned host once, the hostile ones tagged."""
    push_messages(zmq_port, ZMQ_MESSAGES)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind((veth.near_ip, 0))
        payloads = [b"sniffed %d" % number for number in range(200)]
        veth.send_udp(receiver.getsockname()[1], payloads)
        veth.send_frames([veth.ethernet(0x0800, b"\x42" + b"\xff" * 40)])
    total = ZMQ_MESSAGES + 1 + 200 + 1 + 1
    wait_for(lambda: len(sink_events(out)) >= total, 60, f"{total} events in {out}")
    events = sink_events(out)
    assert len(events) == total
    by_input: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_input.setdefault(event["gambolputty"]["source_module"], []).append(event)
    check_zmq_events(by_input["Zmq"], ZMQ_MESSAGES)
    (scan,) = by_input["NmapScanner"]
    assert scan["gambolputty"]["event_type"] == "nmap_scan"
    assert scan["tcp"][str(open_port)]["state"] == "open"
    packets = by_input["Sniffer"]
    assert [event["data"] for event in packets[:200]] == [p.decode() for p in payloads]
    assert {event["s_ip"] for event in packets[:200]} == {veth.far_ip}
    assert [error["reason"] for error in packets[200]["gambolputty"]["errors"]] == [
        "IPv4 header not decoded"
    ]


def test_zmq_sniffer_and_nmap_scanner_in_embedded_mode(
    tmp_path: Path, start_gp: Any, veth: Veth, open_port: int
) -> None:
    out = tmp_path / "out.jsonl"
    run = start_gp("run", all_three_config(tmp_path, out, veth, open_port), READY)
    send_and_check(veth, out, run.port("Zmq"), open_port)
    assert run.terminate() == 0


def test_zmq_sniffer_and_nmap_scanner_through_a_listener_and_a_worker(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: StartWorker,
    start_gp: Any,
    veth: Veth,
    open_port: int,
) -> None:
    out = tmp_path / "out.jsonl"
    config = all_three_config(tmp_path, out, veth, open_port)
    start_worker(config, redis_server.url, env=WORKER_ENV)
    listener = start_gp("listen", config, READY, redis_server.url)
    send_and_check(veth, out, listener.port("Zmq"), open_port)
    assert listener.terminate() == 0
