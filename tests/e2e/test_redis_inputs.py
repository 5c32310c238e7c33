"""`gp-celery run` (embedded mode) reading a Redis list and a channel until SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

import orjson

from tests.conftest import RedisServer, wait_for
from tests.e2e.conftest import GP, ROOT


def lines_in(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    raw = path.read_bytes()
    return [orjson.loads(row) for row in raw[: raw.rfind(b"\n") + 1].splitlines()]


def test_run_reads_a_redis_list_and_channel_and_empties_the_list_before_it_exits(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    out, log = tmp_path / "out.jsonl", tmp_path / "run.log"
    where = f"   server: 127.0.0.1\n   port: {redis_server.port}\n   receivers: [FileSink]\n"
    config = tmp_path / "redis.yml"
    config.write_text(
        f"- RedisList:\n   lists: [logs, audit]\n{where}"
        f"- RedisChannel:\n   channel_pattern: 'alerts.*'\n{where}"
        f"- FileSink:\n   file_name: {out}\n   json_lines: true\n"
    )
    client = redis_server.client()
    client.rpush("logs", *(f"log {n}" for n in range(200)))
    with log.open("wb") as output:
        run = subprocess.Popen(
            [GP, "run", "-c", str(config)], stdout=output, stderr=subprocess.STDOUT, cwd=ROOT
        )
    try:
        wait_for(lambda: len(lines_in(out)) == 200, 30, f"200 lines in {out} (log: {log})")
        wait_for(lambda: int(client.pubsub_numpat()) == 1, 10, "the channel subscription")
        client.rpush("audit", "audit 0")
        commands = "".join(f"PUBLISH alerts.{n % 2} 'alert {n}'\n" for n in range(10))
        subprocess.run(
            ["redis-cli", "-p", str(redis_server.port)],
            input=commands.encode(),
            capture_output=True,
            timeout=10,
            check=True,
        )
        wait_for(lambda: len(lines_in(out)) == 211, 10, f"211 lines in {out}")
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=30) == 0, log.read_text()
    finally:
        if run.poll() is None:
            os.kill(run.pid, signal.SIGKILL)
            run.wait()
    events = lines_in(out)
    assert [e["data"] for e in events[:200]] == [f"log {n}" for n in range(200)]
    assert sorted(e["data"] for e in events[200:]) == sorted(
        ["audit 0", *(f"alert {n}" for n in range(10))]
    )
    received_from = {e["gambolputty"]["received_from"] for e in events}  # type: ignore[index]
    assert received_from == {"logs", "audit", "alerts.0", "alerts.1"}
    for name in ("logs", "audit"):  # taken through this host's processing lists, all removed
        processing = f"{name}:gp-celery:processing:{socket.gethostname()}:RedisList"
        assert processing in log.read_text()
        assert client.llen(processing) == client.llen(name) == 0
        assert not client.exists(f"{processing}:owner")  # a clean stop leaves no record
