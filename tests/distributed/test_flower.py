"""Flower watching a real fleet: Redis, a worker with task events, batches from a listener.

Flower's API answers 401 without credentials; the README shows basic auth (never the
FLOWER_UNAUTHENTICATED_API switch), so that is what is tested here.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT, VENV_BIN, RedisServer, StartWorker, free_port, wait_for

GP = str(Path(sys.executable).parent / "gp-celery")
USER, PASSWORD = "ops", "s3cret-flower"
LINE = '10.0.0.{n} - - [28/Jul/2006:10:27:10 -0300] "GET /page/{n} HTTP/1.0" 200 {n}\n'


def get(url: str, auth: tuple[str, str] | None = None) -> tuple[int, bytes]:
    """GET ``url``; returns (status, body) for error statuses too."""
    request = urllib.request.Request(url)
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read()
    except OSError:
        return 0, b""


class Flower:
    """`celery -A gp_celery flower` with basic auth, on 127.0.0.1 and a free port."""

    def __init__(self, broker_url: str, workdir: Path) -> None:
        self.port = free_port()
        self.log = workdir / "flower.log"
        with self.log.open("wb") as output:
            self.process = subprocess.Popen(
                [
                    str(VENV_BIN / "celery"),
                    "-A",
                    "gp_celery",
                    "flower",
                    f"--port={self.port}",
                    "--address=127.0.0.1",
                ],
                stdout=output,
                stderr=subprocess.STDOUT,
                # Credentials from the environment, as in compose.yaml: not on the command line.
                env={
                    **os.environ,
                    "GP_BROKER_URL": broker_url,
                    "FLOWER_BASIC_AUTH": f"{USER}:{PASSWORD}",
                },
                cwd=ROOT,
                start_new_session=True,
            )
        wait_for(
            lambda: self.get("/healthcheck")[0] == 200 or self.process.poll() is not None,
            60,
            f"Flower on port {self.port} (log: {self.log})",
        )
        assert self.process.poll() is None, self.log.read_text()

    def get(self, path: str, auth: tuple[str, str] | None = None) -> tuple[int, bytes]:
        return get(f"http://127.0.0.1:{self.port}{path}", auth)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture
def flower(redis_server: RedisServer, tmp_path: Path) -> Iterator[Flower]:
    server = Flower(redis_server.url, tmp_path)
    yield server
    server.stop()


def succeeded_tasks(metrics: bytes, worker: str) -> float:
    """flower_events_total for gp_celery.run_stage task-succeeded events of ``worker``."""
    for family in text_string_to_metric_families(metrics.decode()):
        for sample in family.samples:
            if (
                sample.name == "flower_events_total"
                and sample.labels.get("worker") == worker
                and sample.labels.get("task") == "gp_celery.run_stage"
                and sample.labels.get("type") == "task-succeeded"
            ):
                return float(sample.value)
    return 0.0


def test_flower_lists_the_worker_and_counts_its_tasks(
    redis_server: RedisServer, start_worker: StartWorker, flower: Flower, tmp_path: Path
) -> None:
    count = 5000
    out = tmp_path / "out.jsonl"
    config = tmp_path / "pipeline.yml"
    config.write_text(
        "- Global:\n   chunk_bytes: 16384\n   batch_ms: 1000\n"
        "- StdIn\n"
        "- RegexParser:\n   field_extraction_patterns:\n    - access: '(?P<remote_ip>\\S+) '\n"
        f"- FileSink:\n   file_name: {out}\n   json_lines: true\n"
    )
    worker = start_worker(config, redis_server.url, extra_args=["--task-events"])
    assert "task events: ON" in worker.output()
    name = f"w0@{socket.gethostname()}"

    listener = subprocess.run(
        [GP, "listen", "-c", str(config)],
        input="".join(LINE.format(n=n) for n in range(count)),
        capture_output=True,
        text=True,
        env={**os.environ, "GP_BROKER_URL": redis_server.url},
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert listener.returncode == 0, listener.stderr
    published = re.search(r"published (\d+) chunks", listener.stderr)
    assert published, listener.stderr
    batches = int(published.group(1))  # one task per chunk
    assert batches >= 5

    auth = (USER, PASSWORD)
    wait_for(
        lambda: succeeded_tasks(flower.get("/metrics", auth)[1], name) >= batches,
        30,
        f"{batches} succeeded gp_celery.run_stage tasks of {name} in Flower's /metrics",
    )
    assert succeeded_tasks(flower.get("/metrics", auth)[1], name) == batches

    # Flower asks the workers over the broker with a 1 s timeout; a busy machine can miss
    # it, which Flower reports as no workers at all: ask until the worker answers.
    def listed() -> bool:
        status, body = flower.get("/api/workers?refresh=1", auth)
        assert status == 200, body
        return name in json.loads(body)

    wait_for(listed, 30, f"{name} in Flower's /api/workers")
    workers = json.loads(flower.get("/api/workers", auth)[1])
    assert name in workers, sorted(workers)
    assert "gp_celery.run_stage" in workers[name]["registered"]
    assert [queue["name"] for queue in workers[name]["active_queues"]] == ["gp-celery"]

    status, body = flower.get("/api/tasks?limit=100", auth)
    assert status == 200, body
    tasks = json.loads(body).values()
    assert len(tasks) == batches
    assert {(task["name"], task["state"]) for task in tasks} == {("gp_celery.run_stage", "SUCCESS")}


def test_flower_api_refuses_requests_without_the_right_credentials(flower: Flower) -> None:
    assert flower.get("/api/workers", (USER, PASSWORD))[0] == 200
    assert flower.get("/api/workers")[0] == 401
    assert flower.get("/api/workers", (USER, "wrong"))[0] == 401
    assert flower.get("/api/tasks")[0] == 401
    assert flower.get("/")[0] == 401


def test_flower_metrics_need_no_credentials_so_bind_flower_privately(flower: Flower) -> None:
    """Flower 2 serves /metrics and /healthcheck without auth (for Prometheus): the README
    says to bind Flower to a private address. This fails if Flower starts protecting them."""
    status, body = flower.get("/metrics")
    assert status == 200
    assert b"flower_events_total" in body
    assert flower.get("/healthcheck")[0] == 200
