"""`gp-celery listen` against a real broker: backpressure from the queue depth, and the
warnings about broker settings that would lose queued batches."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

from tests.conftest import RedisServer, StartWorker, wait_for
from tests.distributed.conftest import (
    WORKER_ENV,
    StartListener,
    line,
    settle,
    wait_for_ids,
    write_config,
)

EVICTION_WARNING = "maxmemory-policy is 'allkeys-lru'"
HIGH_WATER, LOW_WATER = 5, 2


def backpressure_config(directory: Path, out: Path, middle: str = "") -> Path:
    """TCP in, chunks of 16 KiB, tiny water marks, ``middle`` nodes, JSON lines out."""
    return write_config(
        directory,
        f"""- Global:
   chunk_bytes: 16384
   batch_ms: 50
   high_water_batches: {HIGH_WATER}
   low_water_batches: {LOW_WATER}
- TcpServer:
   interface: 127.0.0.1
   port: 0
{middle}- FileSink:
   file_name: {out}
   json_lines: true
""",
    )


PERSISTENCE_WARNING = "the broker has no persistence"


def test_full_queue_stops_the_listener_reading_until_a_worker_drains_it(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: StartWorker,
    start_listener: StartListener,
) -> None:
    high_water = HIGH_WATER
    out = tmp_path / "out.jsonl"
    config = backpressure_config(tmp_path, out)
    listener = start_listener(config, redis_server.url)  # no worker yet
    broker = redis_server.client()
    count, step = 10_000, 100  # 20 MB: more than the socket buffers hold
    sent = [0]

    def send() -> None:
        with socket.create_connection(("127.0.0.1", listener.port), timeout=120) as client:
            client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 16)
            for start in range(0, count, step):
                chunk = "".join(f"{line(n, width=2000)}\n" for n in range(start, start + step))
                client.sendall(chunk.encode())
                sent[0] = start + step
            client.shutdown(socket.SHUT_WR)
            assert client.recv(1) == b""

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    wait_for(lambda: broker.llen("gp-celery") >= high_water, 20, "the queue to fill")

    def client_blocked() -> bool:  # once the socket buffers are full
        before = sent[0]
        time.sleep(0.5)
        return sent[0] == before

    wait_for(client_blocked, 20, "the client's sends to block")
    # For two more seconds: the queue stays at the mark and the client cannot send.
    depths = []
    stalled_at = sent[0]
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        depths.append(broker.llen("gp-celery"))
        time.sleep(0.05)
    assert high_water <= max(depths) <= high_water + 1, depths
    assert sent[0] == stalled_at < count, "the client's sends did not block"
    assert f"inputs pause until it is below {LOW_WATER}" in listener.output()

    start_worker(config, redis_server.url, env=WORKER_ENV)
    sender.join(timeout=60)
    assert not sender.is_alive()
    counts = wait_for_ids(out, range(count), timeout=60)
    assert len(settle(out, quiet=0.5)) == count
    assert set(counts.values()) == {1}
    assert "reading again" in listener.output()
    assert listener.terminate() == 0


def test_listener_warns_when_the_broker_may_evict_or_forget_batches(
    tmp_path: Path, redis_server: RedisServer, start_listener: StartListener
) -> None:
    config = write_config(
        tmp_path,
        "- TcpServer:\n   interface: 127.0.0.1\n   port: 0\n- DevNullSink: {}\n",
    )
    safe = start_listener(config, redis_server.url)  # noeviction and AOF: no warning
    assert safe.terminate() == 0
    assert EVICTION_WARNING not in safe.output()
    assert PERSISTENCE_WARNING not in safe.output()
    assert "WARNING" not in safe.output()

    client = redis_server.client()
    client.config_set("maxmemory-policy", "allkeys-lru")
    client.config_set("appendonly", "no")
    client.config_set("save", "")
    unsafe = start_listener(config, redis_server.url)
    assert unsafe.terminate() == 0
    log = unsafe.output()
    assert EVICTION_WARNING in log
    assert "Set it to 'noeviction'" in log
    assert PERSISTENCE_WARNING in log
    assert "Turn on appendonly" in log


def test_a_slow_later_stage_stops_the_listener_too(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: StartWorker,
    start_listener: StartListener,
) -> None:
    """Only the first stage is served: the second stage's queue must not grow without
    bound behind a first queue that looks empty."""
    high_water = HIGH_WATER
    out = tmp_path / "out.jsonl"
    config = backpressure_config(tmp_path, out, "- AddDateTime:\n   queue: second\n")
    start_worker(config, redis_server.url, queues="gp-celery", env=WORKER_ENV, name="first")
    listener = start_listener(config, redis_server.url)
    broker = redis_server.client()
    count = 5_000

    def send() -> None:
        with socket.create_connection(("127.0.0.1", listener.port), timeout=120) as client:
            client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 16)
            client.sendall("".join(f"{line(n, width=2000)}\n" for n in range(count)).encode())
            client.shutdown(socket.SHUT_WR)
            assert client.recv(1) == b""

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    wait_for(lambda: broker.llen("second") >= high_water, 30, "the second stage's queue to fill")
    depths = []
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        depths.append(broker.llen("second"))
        time.sleep(0.05)
    assert max(depths) <= 2 * high_water + 1, depths
    assert sender.is_alive(), "the client could send everything: nothing held it back"
    assert "or a later stage's holds" in listener.output()

    start_worker(config, redis_server.url, queues="second", env=WORKER_ENV, name="second")
    sender.join(timeout=60)
    counts = wait_for_ids(out, range(count), timeout=60)
    assert set(counts.values()) == {1}
    assert listener.terminate() == 0
