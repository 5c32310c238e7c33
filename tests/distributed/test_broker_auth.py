"""A broker that wants a password: the URL carries it to the listener, the workers and the
batch store alike."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import RedisServer, StartWorker, free_port
from tests.distributed.conftest import (
    FAST_BATCHES,
    GP,
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


def test_a_wrong_password_stops_the_listener_before_it_takes_data(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    redis_server.client().config_set("requirepass", "right")
    config = write_config(
        tmp_path,
        FAST_BATCHES + "- TcpServer:\n   interface: 127.0.0.1\n   port: 0\n- DevNullSink: {}\n",
    )
    result = subprocess.run(
        [
            GP,
            "listen",
            "-c",
            str(config),
            "--broker",
            f"redis://:wr0ng@127.0.0.1:{redis_server.port}/0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert f"the broker at redis://:****@127.0.0.1:{redis_server.port}/0 refused its password" in (
        result.stderr
    )
    assert "no data was taken" in result.stderr
    assert "wr0ng" not in result.stderr + result.stdout
    assert "listening on" not in result.stderr


def test_an_unreachable_broker_stops_the_listener_at_once(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        FAST_BATCHES + "- TcpServer:\n   interface: 127.0.0.1\n   port: 0\n- DevNullSink: {}\n",
    )
    port = free_port()
    result = subprocess.run(
        [GP, "listen", "-c", str(config), "--broker", f"redis://:pw@127.0.0.1:{port}/0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert f"the broker at redis://:****@127.0.0.1:{port}/0 cannot be reached" in result.stderr
    assert "listening on" not in result.stderr
