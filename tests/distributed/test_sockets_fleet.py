"""A real `gp-celery listen` serving a dual-stack TcpServer (one port for IPv4 and IPv6) and
UnixSocket stream and datagram sockets, with a real Celery worker decoding the chunks:
every line and datagram arrives once, hostile ones tagged, and the listener removes its
socket files when it stops."""

from __future__ import annotations

import shutil
import socket
import subprocess
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


def test_listener_serves_both_ip_families_and_unix_sockets(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: StartWorker,
    start_listener: StartListener,
) -> None:
    nc = shutil.which("nc")
    assert nc, "nc (Debian netcat-openbsd) is needed; scripts/test installs it"
    stream, dgram, out = tmp_path / "in.sock", tmp_path / "dgram.sock", tmp_path / "out.jsonl"
    config = write_config(
        tmp_path,
        f"""{FAST_BATCHES}- TcpServer:
   interface: ''
   port: 0
   receivers: [sink]
- UnixSocket:
   path_to_socket: {stream}
   max_line_bytes: 100
   receivers: [sink]
- UnixSocket:
   path_to_socket: {dgram}
   socket_type: datagram
   receivers: [sink]
- FileSink:
   id: sink
   file_name: {out}
   json_lines: true
""",
    )
    start_worker(config, redis_server.url, env=WORKER_ENV)
    listener = start_listener(config, redis_server.url)
    wait_for(
        lambda: all(f"listening on {path}" in listener.output() for path in (stream, dgram)),
        30,
        "the listener's Unix sockets",
    )

    for host in ("127.0.0.1", "::1"):
        with socket.create_connection((host, listener.port), timeout=30) as client:
            client.sendall(f"tcp over {host}\n".encode())
    payload = b"".join(b"unix line %d\n" % n for n in range(300)) + b"\xff\xfe\n" + b"z" * 500
    subprocess.run([nc, "-N", "-U", str(stream)], input=payload, timeout=30, check=True)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as client:
        for number in range(100):
            client.sendto(b"datagram %d" % number, str(dgram))

    wait_for(lambda: len(sink_events(out)) >= 404, 60, f"404 events in {out}")
    events = settle(out, quiet=0.3)
    assert listener.terminate() == 0, listener.output()
    assert not stream.exists()
    assert not dgram.exists()

    by_source: dict[str, list[dict[str, object]]] = {}
    for event in events:
        meta = event["gambolputty"]
        by_source.setdefault(meta["received_from"], []).append(event)
    tcp = sorted(
        (str(meta), event["data"])
        for meta, group in by_source.items()
        if meta not in (str(stream), str(dgram))
        for event in group
    )
    assert [data for _, data in tcp] == ["tcp over 127.0.0.1", "tcp over ::1"]
    assert tcp[0][0].startswith("127.0.0.1:")
    assert tcp[1][0].startswith("[::1]:")
    lines = by_source[str(stream)]
    assert [event["data"] for event in lines[:300]] == [f"unix line {n}" for n in range(300)]
    assert [event["data"] for event in lines[300:]] == ["\ufffd\ufffd", "z" * 100]
    assert [len(event["gambolputty"]["errors"]) for event in lines[300:]] == [1, 1]
    assert "errors" not in lines[0]["gambolputty"]
    assert sorted(event["data"] for event in by_source[str(dgram)]) == sorted(
        f"datagram {n}" for n in range(100)
    )
    assert len(events) == 404
