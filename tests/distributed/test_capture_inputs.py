"""Zmq, Sniffer and NmapScanner as users run them: `gp-celery run` (embedded), and a real
`gp-celery listen` with a real Celery worker (distributed), each writing JSON lines."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import zmq

from tests.conftest import ROOT, RedisServer, StartWorker, wait_for
from tests.distributed.conftest import FAST_BATCHES, GP, WORKER_ENV, sink_events, write_config


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
    """``start_gp("run" | "listen", config, ready, broker_url=None)``: started, and ready
    once ``ready`` is in its log; killed at the end of the test if still running."""
    started: list[Process] = []

    def start(command: str, config: Path, ready: str, broker_url: str = "") -> Process:
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
            lambda: ready in running.output() or process.poll() is not None,
            30,
            f"gp-celery {command} to log {ready!r} (log: {log})",
        )
        assert process.poll() is None, running.output()
        return running

    yield start
    for running in started:
        if running.process.poll() is None:
            os.killpg(running.process.pid, signal.SIGKILL)
            running.process.wait(timeout=10)


def zmq_config(directory: Path, out: Path) -> Path:
    return write_config(
        directory,
        f"""{FAST_BATCHES}- input.ZeroMQ:
   address: 127.0.0.1:0
- FileSink:
   file_name: {out}
   json_lines: true
""",
    )


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


def check_zmq_events(out: Path, count: int) -> None:
    wait_for(lambda: len(sink_events(out)) >= count + 1, 60, f"{count + 1} events in {out}")
    events = sink_events(out)
    assert len(events) == count + 1
    assert [event["data"] for event in events[:count]] == [f"zmq message {n}" for n in range(count)]
    assert events[-1]["data"] == "bad \ufffd"
    assert [error["reason"] for error in events[-1]["gambolputty"]["errors"]] == [
        "invalid UTF-8 replaced"
    ]
    assert {event["gambolputty"]["source_module"] for event in events} == {"Zmq"}


def test_zmq_messages_reach_the_file_in_embedded_mode(tmp_path: Path, start_gp: Any) -> None:
    out = tmp_path / "out.jsonl"
    run = start_gp("run", zmq_config(tmp_path, out), "Zmq: listening on")
    push_messages(run.port("Zmq"), 3000)
    check_zmq_events(out, 3000)
    assert run.terminate() == 0


def test_zmq_messages_reach_the_file_through_a_listener_and_a_worker(
    tmp_path: Path, redis_server: RedisServer, start_worker: StartWorker, start_gp: Any
) -> None:
    out = tmp_path / "out.jsonl"
    config = zmq_config(tmp_path, out)
    start_worker(config, redis_server.url, env=WORKER_ENV)
    listener = start_gp("listen", config, "Zmq: listening on", redis_server.url)
    push_messages(listener.port("Zmq"), 3000)
    check_zmq_events(out, 3000)
    assert listener.terminate() == 0
