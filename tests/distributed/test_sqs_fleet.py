"""SQS in a fleet: boto3 -> moto's SQS server (a stand-in for AWS) -> a real `gp-celery
listen` -> Redis -> a real `celery worker` -> FileSink. The listener is SIGKILLed while
messages flow: SQS hands the undeleted ones out again, so nothing is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from tests.conftest import ROOT, RedisServer, StartWorker, wait_for
from tests.distributed.conftest import (
    FAST_BATCHES,
    GP,
    WORKER_ENV,
    line,
    settle,
    wait_for_ids,
    write_config,
)
from tests.stand_ins.sqs import CREDENTIALS, REGION, MotoSqs

COUNT = 200


def listen(config: Path, redis: RedisServer, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        return subprocess.Popen(
            [GP, "listen", "-c", str(config), "--broker", redis.url],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env={**os.environ, "GP_BROKER_URL": redis.url},
            start_new_session=True,
        )


def receiving(process: subprocess.Popen[bytes], log: Path) -> None:
    wait_for(
        lambda: "SQS: receiving from" in log.read_text() or process.poll() is not None,
        30,
        f"the listener to receive (log: {log})",
    )
    assert process.poll() is None, log.read_text()


def test_a_sigkilled_listener_loses_no_sqs_message(
    tmp_path: Path, redis_server: RedisServer, start_worker: StartWorker
) -> None:
    sqs = MotoSqs()
    sqs.start()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        url = sqs.queue(visibility_secs=2)
        out = tmp_path / "out.jsonl"
        keys = "".join(f"   {key}: {value}\n" for key, value in CREDENTIALS.items())
        config = write_config(
            tmp_path,
            f"{FAST_BATCHES}- SQS:\n{keys}   region: {REGION}\n   queue: logs\n"
            f"   endpoint_url: {sqs.url}\n"
            f"- FileSink:\n   file_name: {out}\n   json_lines: true\n",
        )
        logs = [tmp_path / "listener-0.log", tmp_path / "listener-1.log"]
        processes.append(listen(config, redis_server, logs[0]))
        start_worker(config, redis_server.url, env=WORKER_ENV)
        receiving(processes[0], logs[0])
        sent = [0]

        def produce() -> None:
            for start in range(0, COUNT, 10):
                sqs.send(url, *(line(n) for n in range(start, start + 10)))
                sent[0] = start + 10
                time.sleep(0.005)

        producer = threading.Thread(target=produce, daemon=True)
        producer.start()
        wait_for(lambda: sent[0] >= COUNT // 3, 20, "a third of the messages sent")
        os.killpg(processes[0].pid, signal.SIGKILL)
        processes[0].wait(timeout=10)
        processes.append(listen(config, redis_server, logs[1]))
        receiving(processes[1], logs[1])
        producer.join(timeout=30)
        counts = wait_for_ids(out, range(COUNT), timeout=60)
        assert len(settle(out, quiet=0.5)) == sum(counts.values())
        processes[1].send_signal(signal.SIGTERM)
        assert processes[1].wait(timeout=30) == 0
        wait_for(lambda: sqs.waiting(url) == (0, 0), 10, "every message to be deleted")
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        sqs.stop()
