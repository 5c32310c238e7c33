"""Stopping a listener while the broker is down: it does not hang; after its grace period
it spools what it could not deliver, says how many records and where, and sends them on
its next start. A second signal leaves at once, saying truthfully what it abandons."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from tests.conftest import RedisServer, StartWorker, wait_for
from tests.distributed.conftest import (
    WORKER_ENV,
    StartListener,
    line,
    send_lines,
    wait_for_ids,
    write_config,
)


def config_for(tmp_path: Path, out: Path, grace: int) -> Path:
    return write_config(
        tmp_path,
        f"""- Global:
   stop_grace_secs: {grace}
   spool_dir: {tmp_path / "spool"}
- TcpServer:
   interface: 127.0.0.1
   port: 0
- FileSink:
   file_name: {out}
   json_lines: true
""",
    )


def test_a_listener_stopped_while_the_broker_is_down_spools_and_sends_on_next_start(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: StartWorker,
    start_listener: StartListener,
) -> None:
    out = tmp_path / "out.jsonl"
    config = config_for(tmp_path, out, grace=2)
    listener = start_listener(config, redis_server.url)
    redis_server.stop()
    send_lines(listener.port, (line(n) for n in range(500)))
    started = time.monotonic()
    assert listener.terminate(timeout=30) == 0
    assert time.monotonic() - started < 15  # the grace period, not forever
    log = listener.output()
    assert "spooled 500 records to" in log
    assert "They are sent on the next start." in log
    assert len(list((tmp_path / "spool").glob("*.chunk"))) == 1

    redis_server.start()
    start_worker(config, redis_server.url, env=WORKER_ENV)
    again = start_listener(config, redis_server.url)
    counts = wait_for_ids(out, range(500), timeout=60)
    assert set(counts.values()) == {1}
    assert "sent 1 chunks spooled by an earlier run" in again.output()
    assert list((tmp_path / "spool").glob("*.chunk")) == []
    assert again.terminate() == 0


def test_a_second_signal_leaves_at_once_and_counts_what_it_abandons(
    tmp_path: Path, redis_server: RedisServer, start_listener: StartListener
) -> None:
    config = config_for(tmp_path, tmp_path / "out.jsonl", grace=600)
    listener = start_listener(config, redis_server.url)
    redis_server.stop()
    send_lines(listener.port, (line(n) for n in range(321)))
    listener.process.send_signal(signal.SIGTERM)
    wait_for(lambda: "Received SIGTERM; stopping" in listener.output(), 30, "the first stop")
    listener.process.send_signal(signal.SIGTERM)
    assert listener.process.wait(timeout=10) == 1
    assert "Received SIGTERM again; exiting now. 321 records not yet delivered are lost." in (
        listener.output()
    )
