"""`gp-celery run` with a UdpServer that a burst overruns: the datagrams the kernel dropped
are in the node's counters at the end of the run, and with those received they add up to
every datagram sent."""

from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path

from tests.conftest import wait_for
from tests.e2e.conftest import GP, ROOT
from tests.inputs.test_udp_server import burst, unread_bytes

SENT = 20_000


def counters(log: str, node: str) -> dict[str, int]:
    """The node's counters from the line the run logs at its end."""
    match = re.search(rf"{node}: ((?:\w+ \d+(?:, )?)+)\.$", log, re.MULTILINE)
    assert match, log
    return {name: int(value) for name, value in re.findall(r"(\w+) (\d+)", match.group(1))}


def test_a_burst_into_a_small_buffer_is_counted_at_the_end_of_the_run(tmp_path: Path) -> None:
    config = tmp_path / "udp.yml"
    config.write_text(
        "- UdpServer:\n   interface: 127.0.0.1\n   port: 0\n   receive_buffer_bytes: 4096\n"
        "- DevNullSink: {}\n"
    )
    log = tmp_path / "stderr.log"
    with log.open("wb") as stderr:
        run = subprocess.Popen([GP, "run", "-c", str(config)], cwd=ROOT, stderr=stderr)
    try:
        wait_for(lambda: "UdpServer: listening" in log.read_text(), 30, "UdpServer to listen")
        port = int(re.findall(r"UdpServer: listening on \S+ \(port (\d+)\)", log.read_text())[0])
        burst(port, SENT)
        wait_for(lambda: unread_bytes(port) == 0, 10, "the burst to be read")
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=30) == 0, log.read_text()
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(timeout=10)
    text = log.read_text()
    counts = counters(text, "UdpServer")
    assert counts["kernel_dropped_datagrams"] > 0
    assert counts["received_datagrams"] == counts["events_in"]
    lost = counts.get("dropped_datagrams", 0) + counts["kernel_dropped_datagrams"]
    assert counts["events_in"] + lost == SENT
    assert counters(text, "DevNullSink")["events_in"] == counts["events_in"]
    assert "UdpServer: the kernel dropped" in text  # the warning, as it happened
