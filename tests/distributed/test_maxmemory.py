"""Redis with a maxmemory: listeners pause before it is full (backpressure, logged), so
workers always have room to finish and hand on; nothing is lost and no worker dies."""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path

from tests.conftest import RedisServer, StartWorker, free_port, wait_for
from tests.distributed.conftest import WORKER_ENV, StartListener, line, wait_for_ids, write_config


def test_a_listener_pauses_before_redis_is_full_and_nothing_is_lost(
    tmp_path: Path, start_worker: StartWorker, start_listener: StartListener
) -> None:
    redis_server = RedisServer(free_port(), tmp_path, maxmemory="8mb")
    redis_server.start()
    try:
        out = tmp_path / "out.jsonl"
        config = write_config(
            tmp_path,
            f"""- Global:
   chunk_bytes: 16384
   high_water_batches: 100000
- TcpServer:
   interface: 127.0.0.1
   port: 0
- FileSink:
   file_name: {out}
   json_lines: true
""",
        )
        listener = start_listener(config, redis_server.url)
        count = 20_000  # about 20 MB: far more than Redis may hold
        with socket.create_connection(("127.0.0.1", listener.port), timeout=60) as client:
            client.setblocking(False)
            payload = "".join(f"{line(n, width=1000)}\n" for n in range(count)).encode()
            sent = 0
            broker = redis_server.client()

            def paused() -> bool:
                nonlocal sent
                with contextlib.suppress(BlockingIOError):  # not reading right now
                    sent += client.send(payload[sent : sent + (1 << 16)])
                return "of its maxmemory (high-water mark 80%); inputs pause" in listener.output()

            wait_for(paused, 60, "the listener to pause on Redis' memory")
            assert sent < len(payload)
            worker = start_worker(config, redis_server.url, env=WORKER_ENV)
            client.setblocking(True)
            client.sendall(payload[sent:])
            client.shutdown(socket.SHUT_WR)
            assert client.recv(1) == b""
        counts = wait_for_ids(out, range(count), timeout=120)
        assert set(counts.values()) == {1}
        info = broker.info("memory")
        assert int(info["used_memory_peak"]) < int(info["maxmemory"])  # never full
        log = worker.output()
        assert "OutOfMemoryError" not in log
        assert worker.process.poll() is None
        assert listener.terminate() == 0
        assert "reading again after" in listener.output()
    finally:
        redis_server.stop()
