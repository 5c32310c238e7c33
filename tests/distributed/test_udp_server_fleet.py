"""A real `gp-celery listen` with a UdpServer and a real Celery worker: what a burst makes
the kernel drop is in the listener's counters, and with what the worker wrote it adds up
to every datagram sent; IPv6 datagrams take the same way."""

from __future__ import annotations

import re
import subprocess
import threading
from pathlib import Path

from tests.conftest import RedisServer, StartWorker, wait_for
from tests.distributed.conftest import (
    WORKER_ENV,
    Listener,
    StartListener,
    settle,
    sink_events,
    write_config,
)
from tests.e2e.test_udp_bursts import counters
from tests.inputs.test_udp_server import burst, unread_bytes

SENT = 10_000


def udp_port(listener: Listener) -> int:
    wait_for(lambda: "UdpServer: listening" in listener.output(), 30, "UdpServer to listen")
    match = re.search(r"UdpServer: listening on \S+ \(port (\d+)\)", listener.output())
    assert match, listener.output()
    return int(match.group(1))


def test_a_burst_the_kernel_drops_is_in_the_listeners_counters(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: StartWorker,
    start_listener: StartListener,
) -> None:
    out = tmp_path / "out.jsonl"
    config = write_config(
        tmp_path,
        f"""- Global:
   batch_ms: 50
- TcpServer:  # the fixture waits for it; no client uses it
   interface: 127.0.0.1
   port: 0
   receivers: [out]
- UdpServer:
   interface: '::'
   port: 0
   receive_buffer_bytes: 4096
   receivers: [out]
- FileSink:
   id: out
   file_name: {out}
   json_lines: true
""",
    )
    listener = start_listener(config, redis_server.url)
    port = udp_port(listener)
    # The listener publishes without a worker: the worker boots meanwhile.
    worker = threading.Thread(
        target=start_worker, args=(config, redis_server.url), kwargs={"env": WORKER_ENV}
    )
    worker.start()
    subprocess.run(
        ["logger", "-d", "-n", "::1", "-P", str(port), "--rfc3164", "-t", "v6", "over ipv6"],
        timeout=10,
        check=True,
    )
    burst(port, SENT)
    wait_for(lambda: unread_bytes(port) == 0, 10, "the burst to be read")
    assert listener.terminate() == 0
    counts = counters(listener.output(), "UdpServer")
    received = counts["received_datagrams"]
    worker.join(timeout=90)
    wait_for(lambda: len(sink_events(out)) >= received, 60, f"{received} events in the sink")
    events = settle(out, quiet=0.5)
    assert counts["kernel_dropped_datagrams"] > 0
    lost = counts.get("dropped_datagrams", 0) + counts["kernel_dropped_datagrams"]
    assert received + lost == SENT + 1
    assert len(events) == received
    (ipv6,) = [event for event in events if event["data"].endswith("v6: over ipv6")]
    assert ipv6["gambolputty"]["received_from"].startswith("::1:")
    senders = {event["gambolputty"]["received_from"].rsplit(":", 1)[0] for event in events}
    assert senders == {"::1", "127.0.0.1"}  # IPv4 senders named by their IPv4 address
