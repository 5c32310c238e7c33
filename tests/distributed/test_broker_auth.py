"""A broker that wants a password: the URL carries it to the listener, the workers and the
batch store alike."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import RedisServer, StartWorker, wait_for
from tests.distributed.conftest import (
    FAST_BATCHES,
    WORKER_ENV,
    StartListener,
    line,
    send_lines,
    wait_for_ids,
    write_config,
)


def test_password_in_the_broker_url_is_used_everywhere(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: StartWorker,
    start_listener: StartListener,
) -> None:
    redis_server.client().config_set("requirepass", "s3cret pass")
    url = f"redis://:s3cret%20pass@127.0.0.1:{redis_server.port}/0"
    out = tmp_path / "out.jsonl"
    config = write_config(
        tmp_path,
        FAST_BATCHES + "- TcpServer:\n   interface: 127.0.0.1\n   port: 0\n"
        f"- FileSink:\n   file_name: {out}\n   json_lines: true\n",
    )
    start_worker(config, url, env=WORKER_ENV)
    listener = start_listener(config, url)
    send_lines(listener.port, (line(n) for n in range(500)))
    counts = wait_for_ids(out, range(500), timeout=60)
    assert set(counts.values()) == {1}
    assert listener.terminate() == 0
    assert "NOAUTH" not in listener.output()


def test_a_wrong_password_is_retried_loudly_not_dropped(
    tmp_path: Path, redis_server: RedisServer, start_listener: StartListener
) -> None:
    redis_server.client().config_set("requirepass", "right")
    url = f"redis://:wrong@127.0.0.1:{redis_server.port}/0"
    config = write_config(
        tmp_path,
        FAST_BATCHES + "- TcpServer:\n   interface: 127.0.0.1\n   port: 0\n- DevNullSink: {}\n",
    )
    listener = start_listener(config, url)
    send_lines(listener.port, (line(n) for n in range(10)), wait_read=False)
    wait_for(lambda: "retrying in" in listener.output(), 30, "a publish retry in the log")
    log = listener.output()
    assert "invalid username-password pair" in log or "WRONGPASS" in log or "AUTH" in log
