"""Helpers for the distributed tests: real `gp-celery listen` processes, real TCP clients,
and reading FileSink output by the unique id every test line carries.

Every test line starts with its own id (``id-000042 ...``); FileSink writes JSON lines, so
the tests count arrivals per id (exactly once, at least once) rather than trusting a total.
Workers get ``GP_VISIBILITY_TIMEOUT`` of a few seconds (production: 300 s, see the README),
so a killed worker's batches come back while the test waits.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import ROOT, VENV_BIN, wait_for

GP = str(VENV_BIN / "gp-celery")
VISIBILITY_SECS = 4
"""The workers' visibility timeout in these tests: a dead worker's batches return after it."""
WORKER_ENV = {"GP_VISIBILITY_TIMEOUT": str(VISIBILITY_SECS)}
SWEEPING = {**WORKER_ENV, "GP_SWEEP_SECS": "1", "GP_SWEEP_GRACE_SECS": "3"}
"""Workers that look for chunks whose message was lost every second (production: 30 s)."""
FAST_BATCHES = "- Global:\n   batch_size: 50\n   batch_ms: 50\n"
ID = re.compile(r"^id-(\d+)")


def line(number: int, width: int = 0) -> str:
    """Test line ``number``: its id, then filler so a line has roughly ``width`` chars."""
    text = f"id-{number:06d} message {number}"
    return text + " x" * max(0, (width - len(text)) // 2)


def write_config(directory: Path, text: str, name: str = "pipeline.yml") -> Path:
    path = directory / name
    path.write_text(text)
    return path


def sink_events(path: Path) -> list[dict[str, Any]]:
    """The complete JSON lines a FileSink has written so far (a half-written line is left)."""
    if not path.exists():
        return []
    raw = path.read_bytes()
    return [orjson.loads(row) for row in raw[: raw.rfind(b"\n") + 1].splitlines()]


def ids_of(events: Iterable[dict[str, Any]]) -> Counter[int]:
    """How often each test id arrived."""
    found: Counter[int] = Counter()
    for event in events:
        match = ID.match(event["data"])
        assert match, f"not a test line: {event['data'][:80]!r}"
        found[int(match.group(1))] += 1
    return found


def wait_for_ids(path: Path, expected: Iterable[int], timeout: float) -> Counter[int]:
    """Wait until every expected id is in the sink's file; return the counts per id."""
    wanted = set(expected)
    counts: Counter[int] = Counter()

    def arrived() -> bool:
        counts.clear()
        counts.update(ids_of(sink_events(path)))
        return wanted <= counts.keys()

    try:
        wait_for(arrived, timeout, f"{len(wanted)} ids in {path}")
    except AssertionError:
        missing = sorted(wanted - counts.keys())
        raise AssertionError(
            f"{len(missing)} of {len(wanted)} ids never arrived in {path} within {timeout}s "
            f"(first missing: {missing[:10]})"
        ) from None
    return counts


def settle(path: Path, quiet: float = 1.0, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Wait until the sink's file has not grown for ``quiet`` seconds; return its events."""
    deadline = time.monotonic() + timeout
    size = -1
    while time.monotonic() < deadline:
        current = path.stat().st_size if path.exists() else 0
        if current == size:
            break
        size = current
        time.sleep(quiet)
    return sink_events(path)


def duplicates(counts: Counter[int]) -> int:
    return sum(count - 1 for count in counts.values())


def send_lines(port: int, lines: Iterable[str], wait_read: bool = True) -> None:
    """One TCP client: send the lines, close the sending side and, with ``wait_read``,
    wait until the listener closes the connection: then it has read every byte (the
    TcpServer reads to end of stream before it closes its side)."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as client:
        client.sendall("".join(f"{text}\n" for text in lines).encode())
        client.shutdown(socket.SHUT_WR)
        if wait_read:
            assert client.recv(1) == b"", "the listener sent data back"


@dataclass
class Listener:
    """A `gp-celery listen` process; its stderr (the log) goes to a file."""

    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    @property
    def port(self) -> int:
        """The TCP port the TcpServer bound (configs use ``port: 0``)."""
        match = re.search(r"TcpServer: listening on \S+ \(port (\d+)\)", self.output())
        assert match, self.output()
        return int(match.group(1))

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM, then wait for the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def published_chunks(self) -> int:
        """The count the listener logs at exit: chunks (task messages) it sent."""
        match = re.search(r"Listener: published (\d+) chunks", self.output())
        assert match, self.output()
        return int(match.group(1))


StartListener = Callable[..., Listener]


@pytest.fixture
def start_listener(tmp_path: Path) -> Iterator[StartListener]:
    """``start_listener(config, broker_url, env=None, extra_args=())``: a real `gp-celery
    listen` subprocess for a config whose input is a TcpServer, ready once it listens; killed
    at the end of the test if it is still running."""
    listeners: list[Listener] = []

    def start(
        config: Path,
        broker_url: str,
        env: dict[str, str] | None = None,
        extra_args: Sequence[str] = (),
    ) -> Listener:
        log = tmp_path / f"listener-{len(listeners)}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [GP, "listen", "-c", str(config), "--broker", broker_url, *extra_args],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env={**os.environ, "GP_BROKER_URL": broker_url, **(env or {})},
                start_new_session=True,
            )
        listener = Listener(process, log)
        listeners.append(listener)
        wait_for(
            lambda: "TcpServer: listening on" in listener.output() or process.poll() is not None,
            30,
            f"the listener to start (log: {log})",
        )
        assert process.poll() is None, listener.output()
        return listener

    yield start
    for listener in listeners:
        if listener.process.poll() is None:
            os.killpg(listener.process.pid, signal.SIGKILL)
            listener.process.wait(timeout=10)
