"""Shared fixtures: a real redis-server on a free port, real Celery worker processes.

Servers are started by the tests and stopped after them. A missing redis-server is a
failure with the install command, never a skip: CI must not pass by testing nothing.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.modules.services import DnsServer, WebServer
    from tests.stand_ins.es_server import EsServer

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class RedisServer:
    """A redis-server we started; ``restart()`` keeps its port and (with AOF) its data."""

    port: int
    workdir: Path
    appendonly: bool = True
    maxmemory: str = "0"
    process: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.workdir / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail(
                "redis-server is not installed: run scripts/test, which installs it "
                "(apt-get install redis-server)"
            )
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.workdir),
                "--appendonly",
                "yes" if self.appendonly else "no",
                "--appendfsync",
                "always",
                "--save",
                "",
                "--maxmemory-policy",
                "noeviction",
                "--maxmemory",
                self.maxmemory,
                "--logfile",
                str(self.log),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        wait_for(self.ping, 10, f"redis-server on port {self.port} (log: {self.log})")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def client(self):  # type: ignore[no-untyped-def]
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh redis-server per test (AOF on, noeviction), so tests cannot see each other."""
    server = RedisServer(free_port(), tmp_path)
    server.start()
    yield server
    server.stop()


@dataclass
class Worker:
    """A `celery -A gp_celery worker` process we started, in its own session."""

    process: subprocess.Popen[bytes]
    log: Path

    def pool_children(self) -> list[int]:
        import psutil

        return [child.pid for child in psutil.Process(self.process.pid).children()]

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool), like a crashed host."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


StartWorker = Callable[..., Worker]


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[StartWorker]:
    """Start real Celery workers: ``start_worker(config, broker_url, queues=..., concurrency=1,
    env={...}, extra_args=["--task-events"])``. Every worker is stopped (or killed) when the
    test ends."""
    workers: list[Worker] = []

    def start(
        config: Path | str,
        broker_url: str,
        queues: str = "gp-celery",
        concurrency: int = 1,
        env: dict[str, str] | None = None,
        name: str | None = None,
        extra_args: Sequence[str] = (),
    ) -> Worker:
        name = name or f"w{len(workers)}"
        log = tmp_path / f"worker-{name}.log"
        command = [
            str(VENV_BIN / "celery"),
            "-A",
            "gp_celery",
            "worker",
            "--gp-config",
            str(config),
            "-Q",
            queues,
            "--concurrency",
            str(concurrency),
            "--pool",
            "prefork",
            "--loglevel",
            "INFO",
            "--hostname",
            f"{name}@%h",
            "--without-gossip",
            "--without-mingle",
            *extra_args,
        ]
        environment = {**os.environ, "GP_BROKER_URL": broker_url, **(env or {})}
        with log.open("wb") as output:
            process = subprocess.Popen(
                command,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=environment,
                cwd=ROOT,
                start_new_session=True,
            )
        worker = Worker(process, log)
        workers.append(worker)
        wait_for(
            lambda: b"ready." in log.read_bytes() or process.poll() is not None,
            60,
            f"celery worker {name} to be ready (log: {log})",
        )
        assert process.poll() is None, worker.output()
        return worker

    yield start
    for worker in workers:
        worker.stop()


# Servers that module tests (and the examples of the modules that need one, in one process
# or in a fleet) share. tests.modules.services imports this file: imported when used.
@pytest.fixture(scope="session")
def dns_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DnsServer]:
    from tests.modules.services import start_dnsmasq

    server = start_dnsmasq(tmp_path_factory.mktemp("dnsmasq"))
    yield server
    server.stop()


@pytest.fixture
def silent_nameserver() -> Iterator[str]:
    """A loopback UDP port that takes queries and never answers: 'ip:port'."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{sink.getsockname()[1]}"


@pytest.fixture(scope="session")
def web_server() -> Iterator[WebServer]:
    from tests.modules.services import start_web_server

    server = start_web_server()
    yield server
    server.stop()


# Elasticsearch: the project's stand-in (tests/stand_ins/elasticsearch/), or a real
# cluster for the tests that can use one when GP_TEST_ES_URL is set.
@pytest.fixture(scope="session")
def es_stand_in_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EsServer]:
    from tests.stand_ins.es_server import start_stand_in

    server = start_stand_in(tmp_path_factory.mktemp("es"))
    yield server
    server.stop()


@pytest.fixture
def es_stand_in(es_stand_in_server: EsServer) -> EsServer:
    """The Elasticsearch stand-in, emptied and without faults: for tests that inject them."""
    es_stand_in_server.reset()
    return es_stand_in_server


@pytest.fixture(
    params=["stand-in", "cluster"] if os.environ.get("GP_TEST_ES_URL") else ["stand-in"]
)
def elasticsearch(request: pytest.FixtureRequest) -> Iterator[EsServer]:
    """The stand-in (emptied); and, in a second run of the same test when GP_TEST_ES_URL is
    set, that real cluster. Indices a test made with ``fresh_index`` are deleted after it."""
    from tests.stand_ins.es_server import real_cluster

    server = real_cluster() if request.param == "cluster" else None
    server = server or request.getfixturevalue("es_stand_in")
    yield server
    server.forget()
