"""RedisList and RedisChannel in a fleet: redis-py and `redis-cli` producers -> a real
`gp-celery listen` -> Redis -> a real `celery worker` -> FileSink. The listener is
SIGKILLed while items flow: nothing is lost, and only the items that were in flight (in its
processing list when it died) can arrive twice."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, RedisServer, StartWorker, wait_for
from tests.distributed.conftest import (
    FAST_BATCHES,
    GP,
    WORKER_ENV,
    duplicates,
    line,
    settle,
    wait_for_ids,
    write_config,
)

COUNT = 1500
MESSAGES = 20


Launch = Callable[[Path, RedisServer], tuple[subprocess.Popen[bytes], Path]]


@pytest.fixture
def launch_listener(tmp_path: Path) -> Iterator[Launch]:
    """``launch_listener(config, redis)``: a `gp-celery listen` process and its log (see
    ``wait_until_reading``); killed at the end of the test if it still runs."""
    started: list[subprocess.Popen[bytes]] = []

    def launch(config: Path, redis: RedisServer) -> tuple[subprocess.Popen[bytes], Path]:
        log = tmp_path / f"listener-{len(started)}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [GP, "listen", "-c", str(config), "--broker", redis.url],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env={**os.environ, "GP_BROKER_URL": redis.url},
                start_new_session=True,
            )
        started.append(process)
        return process, log

    yield launch
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def wait_until_reading(process: subprocess.Popen[bytes], log: Path) -> None:
    wait_for(
        lambda: "RedisList: reading" in log.read_text() or process.poll() is not None,
        30,
        f"the listener to read (log: {log})",
    )
    assert process.poll() is None, log.read_text()


def publish(redis: RedisServer, numbers: range) -> None:
    """With one redis-cli, once the new listener (and only it) is subscribed."""
    client = redis.client()
    wait_for(
        lambda: dict(client.pubsub_numsub("alerts")).get(b"alerts") == 1,
        10,
        "the listener to subscribe",
    )
    commands = "".join(f"PUBLISH alerts '{line(n)}'\n" for n in numbers)
    subprocess.run(
        ["redis-cli", "-p", str(redis.port)],
        input=commands.encode(),
        capture_output=True,
        timeout=10,
        check=True,
    )


def test_a_sigkilled_listener_loses_no_item_and_repeats_only_those_in_flight(
    tmp_path: Path,
    redis_server: RedisServer,
    start_worker: StartWorker,
    launch_listener: Launch,
) -> None:
    out = tmp_path / "out.jsonl"
    config = write_config(
        tmp_path,
        f"{FAST_BATCHES}- RedisList:\n   lists: logs\n   batch_size: 20\n"
        f"   server: 127.0.0.1\n   port: {redis_server.port}\n"
        "   receivers: [FileSink]\n"
        f"- RedisChannel:\n   channel: alerts\n"
        f"   server: 127.0.0.1\n   port: {redis_server.port}\n"
        "   receivers: [FileSink]\n"
        f"- FileSink:\n   file_name: {out}\n   json_lines: true\n",
    )
    first, first_log = launch_listener(config, redis_server)  # starts while the worker does
    start_worker(config, redis_server.url, env=WORKER_ENV)
    wait_until_reading(first, first_log)
    client = redis_server.client()
    pushed = [0]

    def produce() -> None:
        for start in range(0, COUNT, 50):
            client.rpush("logs", *(line(n) for n in range(start, start + 50)))
            pushed[0] = start + 50
            time.sleep(0.005)

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    processing = f"logs:gp-celery:processing:{socket.gethostname()}:RedisList"
    wait_for(lambda: pushed[0] >= COUNT // 3, 20, "a third of the items pushed")
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    in_flight = client.llen(processing)  # frozen now: nobody else touches it

    second, log = launch_listener(config, redis_server)
    wait_until_reading(second, log)
    producer.join(timeout=30)
    assert not producer.is_alive()
    publish(redis_server, range(COUNT, COUNT + MESSAGES))
    counts = wait_for_ids(out, range(COUNT + MESSAGES), timeout=60)
    assert len(settle(out, quiet=0.5)) == sum(counts.values())
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=30) == 0
    assert duplicates(counts) <= in_flight
    replayed = re.search(r"(\d+) items in \S+ were not delivered before", log.read_text())
    assert (int(replayed.group(1)) if replayed else 0) == in_flight
    assert client.llen("logs") == 0
    assert client.llen(processing) == 0
