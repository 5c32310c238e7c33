"""Real `logger` (util-linux) clients to `gp-celery run -c conf/syslog-to-file.yml`:
UdpServer and TcpServer `mode: syslog` (octet-counted and newline-ended frames) ->
SyslogParser -> FileSink json_lines."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import ROOT, free_port, wait_for
from tests.e2e.conftest import GP


def logger(*args: str) -> None:
    binary = shutil.which("logger")
    assert binary, "logger (Debian bsdutils) is needed; scripts/test installs it"
    subprocess.run([binary, *args], check=True, timeout=30, capture_output=True)


def stored(directory: Path) -> list[dict[str, Any]]:
    """The complete JSON lines of every day's file (a run may span midnight UTC)."""
    rows = []
    for path in sorted(directory.glob("syslog-*.jsonl")):
        raw = path.read_bytes()
        rows += [orjson.loads(row) for row in raw[: raw.rfind(b"\n") + 1].splitlines()]
    return rows


class Run:
    """`gp-celery run -c conf/syslog-to-file.yml` on free ports, writing under tmp_path."""

    def __init__(self, tmp_path: Path) -> None:
        self.tcp, self.udp = free_port(), free_port()
        self.out = tmp_path
        self.log = tmp_path / "stderr.log"
        env = {
            "GP_SYSLOG_TCP_PORT": str(self.tcp),
            "GP_SYSLOG_UDP_PORT": str(self.udp),
            "GP_OUT_DIR": str(tmp_path),
        }
        with self.log.open("wb") as stderr:
            self.process = subprocess.Popen(
                [GP, "run", "-c", "conf/syslog-to-file.yml"],
                cwd=ROOT,
                stderr=stderr,
                env={**os.environ, **env},
            )
        wait_for(self._listening, 30, f"both inputs to listen (log: {self.log})")

    def _listening(self) -> bool:
        assert self.process.poll() is None, self.log.read_text()
        text = self.log.read_text()
        return "TcpServer: listening" in text and "UdpServer: listening" in text

    def events(self, count: int) -> list[dict[str, Any]]:
        wait_for(lambda: len(stored(self.out)) >= count, 30, f"{count} events in {self.out}")
        return stored(self.out)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Run]:
    run = Run(tmp_path)
    yield run
    if run.process.poll() is None:
        run.process.kill()
        run.process.wait(timeout=10)


def by_message(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {event.get("syslog_message", event["data"]): event for event in events}


def test_logger_rfc3164_and_rfc5424_over_udp(pipeline: Run) -> None:
    udp = ["-d", "-n", "127.0.0.1", "-P", str(pipeline.udp)]
    logger("--rfc3164", *udp, "-t", "app3164", "-i", "-p", "local3.warning", "udp classic")
    logger(
        "--rfc5424", *udp, "-t", "app5424", "--msgid", "ID47", "--sd-id", "ex@32473",
        "--sd-param", 'q="say \\"hi\\""', "-p", "auth.err", "udp modern",
    )  # fmt: skip
    events = by_message(pipeline.events(2))
    classic, modern = events["udp classic"], events["udp modern"]
    assert (classic["syslog_facility"], classic["syslog_severity"]) == (19, 4)
    assert classic["syslog_appname"] == "app3164"
    assert classic["syslog_procid"].isdigit()
    assert classic["syslog_timestamp"][:4].isdigit()
    assert (modern["syslog_facility_name"], modern["syslog_severity_name"]) == (
        "security/authorization",
        "Error",
    )
    assert modern["syslog_version"] == 1
    assert (modern["syslog_appname"], modern["syslog_msgid"]) == ("app5424", "ID47")
    assert modern["syslog_sd"]["ex@32473"] == {"q": 'say "hi"'}
    assert "timeQuality" in modern["syslog_sd"]
    assert all("errors" not in event["gambolputty"] for event in events.values())
    assert pipeline.stop() == 0


def test_logger_over_tcp_octet_counted_and_newline_ended(pipeline: Run, tmp_path: Path) -> None:
    tcp = ["-T", "-n", "127.0.0.1", "-P", str(pipeline.tcp)]
    many = tmp_path / "many.txt"
    many.write_text("".join(f"counted line {n}\n" for n in range(200)))
    logger("--rfc5424", "--octet-count", *tcp, "-t", "octets", "-f", str(many))
    logger("--rfc3164", "--octet-count", *tcp, "-t", "octets3164", "classic counted")
    logger("--rfc5424", *tcp, "-t", "newline", "modern by newline")
    logger("--rfc3164", *tcp, "-t", "newline3164", "classic by newline")
    events = by_message(pipeline.events(203))
    assert len(events) == 203
    assert {f"counted line {n}" for n in range(200)} <= events.keys()
    assert events["counted line 7"]["syslog_appname"] == "octets"
    one_connection = {
        events[f"counted line {n}"]["gambolputty"]["received_from"] for n in range(200)
    }
    assert len(one_connection) == 1
    assert events["classic counted"]["syslog_appname"] == "octets3164"
    assert events["modern by newline"]["syslog_version"] == 1
    assert events["classic by newline"]["syslog_appname"] == "newline3164"
    assert all("errors" not in event["gambolputty"] for event in events.values())
    assert pipeline.stop() == 0
