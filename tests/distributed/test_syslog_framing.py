"""RFC 6587 framing in a fleet: a `gp-celery listen` TcpServer in `mode: syslog` cuts the
stream, a real Celery worker decodes and parses it. Frames come from `logger -T
--octet-count` and from a client that splits frames across sends far enough apart that
the listener ships a chunk in between: no frame may be cut in two."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.conftest import RedisServer, StartWorker, wait_for
from tests.distributed.conftest import (
    FAST_BATCHES,
    WORKER_ENV,
    StartListener,
    settle,
    sink_events,
    write_config,
)


def counted(text: str) -> bytes:
    body = text.encode()
    return str(len(body)).encode() + b" " + body


def test_octet_counted_frames_from_logger_and_split_sends_arrive_whole(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: StartWorker,
    start_listener: StartListener,
) -> None:
    logger = shutil.which("logger")
    assert logger, "logger (Debian bsdutils) is needed; scripts/test installs it"
    out = tmp_path / "out.jsonl"
    config = write_config(
        tmp_path,
        f"""{FAST_BATCHES}- TcpServer:
   interface: 127.0.0.1
   port: 0
   mode: syslog
- SyslogParser: {{}}
- FileSink:
   file_name: {out}
   json_lines: true
""",
    )
    start_worker(config, redis_server.url, env=WORKER_ENV)
    listener = start_listener(config, redis_server.url)
    port = listener.port

    lines = tmp_path / "lines.txt"
    lines.write_text("".join(f"from logger {n}\n" for n in range(100)))
    to_listener = ["-T", "--octet-count", "-n", "127.0.0.1", "-P", str(port)]
    command = [logger, "--rfc5424", *to_listener, "-t", "fleet", "-f", str(lines)]
    subprocess.run(command, check=True, timeout=30)

    split = [
        counted("<13>1 2026-12-01T10:00:00Z h split - - - split across sends"),
        counted('<14>1 - h split - - [ex@1 k="v\\]"] second split'),
        counted("<13>Dec  1 10:00:00 h classic[9]: third split"),
    ]
    stream = b"".join(split)
    cuts = [3, 20, len(split[0]) + 1, len(split[0]) + len(split[1]) - 5]  # inside lengths too
    with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
            client.sendall(stream[start:end])
            time.sleep(0.5)  # ten batch_ms: the listener ships what it has in between
        client.shutdown(socket.SHUT_WR)
        assert client.recv(1) == b""

    wait_for(lambda: len(sink_events(out)) >= 103, 60, f"103 events in {out}")
    assert listener.terminate() == 0
    # logger's frames, then the first split frame and the last two: three chunks at least,
    # while a partial frame waited in the listener across the flushes in between.
    assert listener.published_chunks() >= 3
    events = settle(out)
    messages = sorted(event["syslog_message"] for event in events)
    assert messages == sorted(
        [f"from logger {n}" for n in range(100)]
        + ["split across sends", "second split", "third split"]
    )
    by_message = {event["syslog_message"]: event for event in events}
    assert by_message["second split"]["syslog_sd"] == {"ex@1": {"k": "v]"}}
    assert by_message["third split"]["syslog_procid"] == "9"
    assert by_message["from logger 42"]["syslog_appname"] == "fleet"
    assert all("errors" not in event["gambolputty"] for event in events)
