"""A msgpack stream over one TCP connection, in a fleet of two worker processes: the
listener cuts the stream at object boundaries, so no object is ever split between two
workers (the seed README's shape, TcpServer stream -> MsgPackParser stream, unchanged)."""

from __future__ import annotations

import random
import socket
import subprocess
from pathlib import Path

import msgpack
import pytest

from tests.conftest import RedisServer, StartWorker, wait_for
from tests.distributed.conftest import (
    GP,
    WORKER_ENV,
    StartListener,
    settle,
    sink_events,
    write_config,
)

COUNT = 2000
SEED_SHAPE = """- TcpServer:
   interface: 127.0.0.1
   port: 0
   mode: stream
   chunksize: 100
- MsgPackParser:
   mode: stream
"""
DECODING = """- TcpServer:
   interface: 127.0.0.1
   port: 0
   mode: stream
   decoding: msgpack
"""


def objects() -> bytes:
    rng = random.Random(5)
    return b"".join(
        msgpack.packb({"id": n, "message": "x" * rng.randint(0, 300), "n": [n, n * 2]})
        for n in range(COUNT)
    )


def send_in_random_pieces(port: int, data: bytes) -> None:
    rng = random.Random(9)
    with socket.create_connection(("127.0.0.1", port), timeout=60) as client:
        position = 0
        while position < len(data):
            size = rng.randint(1, 700)
            client.sendall(data[position : position + size])
            position += size
        client.shutdown(socket.SHUT_WR)
        assert client.recv(1) == b""


def config_text(out: Path, inputs: str) -> str:
    return f"{inputs}- FileSink:\n   file_name: {out}\n   json_lines: true\n"


def assert_every_object_once(events: list[dict[str, object]]) -> None:
    assert sorted(event["id"] for event in events) == list(range(COUNT))  # type: ignore[type-var]
    assert all("errors" not in event["gambolputty"] for event in events)  # type: ignore[operator]
    assert all(event["n"] == [event["id"], event["id"] * 2] for event in events)  # type: ignore[operator]


@pytest.mark.parametrize("inputs", [SEED_SHAPE, DECODING], ids=["seed-shape", "decoding"])
def test_a_msgpack_stream_arrives_whole_in_a_fleet_of_two(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: StartWorker,
    start_listener: StartListener,
    inputs: str,
) -> None:
    out = tmp_path / "out.jsonl"
    config = write_config(tmp_path, "- Global:\n   chunk_bytes: 4096\n" + config_text(out, inputs))
    start_worker(config, redis_server.url, concurrency=2, env=WORKER_ENV)
    listener = start_listener(config, redis_server.url)
    send_in_random_pieces(listener.port, objects())
    assert listener.terminate() == 0
    assert listener.published_chunks() >= 4  # spread over several tasks and both processes
    wait_for(lambda: len(sink_events(out)) >= COUNT, 60, f"{COUNT} events")
    assert_every_object_once(settle(out, quiet=0.5))


def test_embedded_mode_gives_the_same_events(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    config = write_config(tmp_path, config_text(out, SEED_SHAPE).replace("port: 0", "port: 0"))
    process = subprocess.Popen(
        [GP, "run", "-c", str(config)], stderr=subprocess.PIPE, start_new_session=True
    )
    try:

        def port() -> int | None:
            import re

            text = (process.stderr.peek() if process.stderr else b"").decode(errors="replace")
            found = re.search(r"port (\d+)\)", text)
            return int(found.group(1)) if found else None

        wait_for(lambda: port() is not None, 30, "the embedded TcpServer to listen")
        send_in_random_pieces(port() or 0, objects())
        wait_for(lambda: len(sink_events(out)) >= COUNT, 60, f"{COUNT} events")
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert_every_object_once(settle(out, quiet=0.5))
