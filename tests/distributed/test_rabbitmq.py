"""RabbitMQ as the broker: Debian's rabbitmq-server, started by the test as a private node.

The node runs on free ports with its own data, logs, Erlang cookie and epmd, so it neither
needs nor touches a system service. A missing or broken rabbitmq-server is a failure with
the reason, never a skip. Dead letters and parked batches live in Redis whatever the broker
is (GP_REDIS_URL), so the workers here also get a redis-server.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import ROOT, RedisServer, StartWorker, free_port, wait_for

GP = str(Path(sys.executable).parent / "gp-celery")
DEBIAN_SBIN = Path("/usr/lib/rabbitmq/bin")
"""Debian's /usr/sbin/rabbitmq-* are wrappers that `su rabbitmq` and log to /var/log; the
scripts behind them run as the calling user with the environment we give them."""
LINE = '10.0.0.{n} - - [28/Jul/2006:10:27:10 -0300] "GET /page/{n} HTTP/1.0" 200 {n}\n'
PATTERN = (
    r"(?P<remote_ip>\d+\.\d+\.\d+\.\d+) \S+ \S+ \[[^\]]+\] "
    r'"GET (?P<url>\S+) [^"]*" (?P<http_status>\d+) (?P<bytes_send>\d+)'
)


def rabbitmq_tool(name: str) -> str:
    candidates = [DEBIAN_SBIN / name, Path("/usr/sbin") / name]
    found = next((str(path) for path in candidates if path.exists()), shutil.which(name))
    if found is None:
        pytest.fail(
            f"{name} is not installed: run scripts/test, which installs it "
            "(apt-get install rabbitmq-server)"
        )
    return found


@dataclass
class RabbitMQ:
    """A rabbitmq-server node we started, with everything it writes under ``workdir``."""

    workdir: Path
    port: int
    dist_port: int
    epmd_port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def node(self) -> str:
        return f"rabbit-{self.port}@localhost"

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    @property
    def log(self) -> Path:
        return self.workdir / "rabbitmq-server.out"

    @property
    def env(self) -> dict[str, str]:
        """Private node settings; HOME holds the node's own Erlang cookie."""
        return {
            **os.environ,
            "HOME": str(self.workdir),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "RABBITMQ_MNESIA_BASE": str(self.workdir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.workdir / "log"),
            "RABBITMQ_PID_FILE": str(self.workdir / "rabbitmq.pid"),
            "RABBITMQ_CONFIG_FILE": str(self.workdir / "rabbitmq"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.workdir / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(self.workdir / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.workdir / "enabled_plugins"),
        }

    def start(self) -> None:
        server = rabbitmq_tool("rabbitmq-server")
        cookie = self.workdir / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(16))
        cookie.chmod(0o400)
        (self.workdir / "rabbitmq-env.conf").write_text("")
        with self.log.open("wb") as output:
            self.process = subprocess.Popen(
                [server],
                stdout=output,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.workdir,
                start_new_session=True,
            )
        process = self.process
        try:
            wait_for(
                lambda: self.accepts_amqp() or process.poll() is not None,
                90,
                f"rabbitmq-server node {self.node}",
            )
        except AssertionError:
            self.stop()
            pytest.fail(
                f"rabbitmq-server did not accept AMQP on port {self.port} within 90 s; "
                f"its output ({self.log}):\n{self.output_tail()}"
            )
        if process.poll() is not None:
            self.stop()
            pytest.fail(f"rabbitmq-server exited with {process.returncode}:\n{self.output_tail()}")

    def output_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def accepts_amqp(self) -> bool:
        """True once the AMQP listener is up, which is the last step of the node's boot."""
        from kombu import Connection

        try:
            with Connection(self.url, connect_timeout=1) as connection:
                connection.connect()
                return bool(connection.connected)
        except Exception:  # refused, reset or an AMQP error while the node boots
            return False

    def ctl(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [rabbitmq_tool("rabbitmqctl"), "-n", self.node, *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )

    def vhost(self, name: str) -> str:
        """A fresh virtual host for one test (its own queues); returns its broker URL."""
        for args in (
            ("add_vhost", name),
            ("set_permissions", "-p", name, "guest", ".*", ".*", ".*"),
        ):
            result = self.ctl(*args)
            assert result.returncode == 0, f"rabbitmqctl {' '.join(args)}: {result.stderr}"
        return f"amqp://guest:guest@127.0.0.1:{self.port}/{name}"

    @staticmethod
    def queue_depth(url: str, queue: str) -> int:
        """Ready messages in ``queue`` as the broker counts them (0 if it does not exist)."""
        from kombu import Connection

        with Connection(url) as connection:
            channel: Any = connection.channel()  # kombu's stubs lack queue_declare
            try:
                return int(channel.queue_declare(queue=queue, passive=True).message_count)
            except Exception as error:
                if "NOT_FOUND" in str(error):
                    return 0
                raise

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.ctl("stop", timeout=60)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        # epmd daemonises into its own session; it answers `epmd -kill` on its port.
        epmd = shutil.which("epmd")
        if epmd is not None:
            subprocess.run(
                [epmd, "-kill"],
                env=self.env,
                capture_output=True,
                timeout=10,
                check=False,
            )


@pytest.fixture(scope="module")
def rabbitmq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitMQ]:
    """One node for the module: a RabbitMQ boot takes seconds."""
    node = RabbitMQ(tmp_path_factory.mktemp("rabbitmq"), free_port(), free_port(), free_port())
    node.start()
    yield node
    node.stop()


def write_config(path: Path, out: Path, **settings: int) -> Path:
    """StdIn -> RegexParser -> FileSink (JSON lines), with ``settings`` in Global."""
    global_lines = "".join(f"   {key}: {value}\n" for key, value in settings.items())
    path.write_text(
        f"- Global:\n{global_lines}"
        "- StdIn\n"
        "- RegexParser:\n"
        "   field_extraction_patterns:\n"
        f"    - access: '{PATTERN}'\n"
        "- FileSink:\n"
        f"   file_name: {out}\n"
        "   json_lines: true\n"
    )
    return path


def write_lines(path: Path, count: int) -> Path:
    path.write_text("".join(LINE.format(n=n) for n in range(count)))
    return path


def read_events(out: Path) -> list[dict[str, object]]:
    if not out.exists():
        return []
    return [orjson.loads(line) for line in out.read_bytes().splitlines()]


def assert_exactly_once(out: Path, count: int) -> None:
    """Every input line arrived once, parsed, and nothing more arrives after a pause."""
    wait_for(lambda: len(read_events(out)) >= count, 60, f"{count} events in {out}")
    time.sleep(1.0)
    events = read_events(out)
    urls = sorted(str(event["url"]) for event in events)
    assert urls == sorted(f"/page/{n}" for n in range(count))
    ids = {event["gambolputty"]["event_id"] for event in events}  # type: ignore[index]
    assert len(ids) == count
    assert {event["gambolputty"]["event_type"] for event in events} == {"access"}  # type: ignore[index]


def listener_env(broker_url: str, redis_url: str) -> dict[str, str]:
    return {**os.environ, "GP_BROKER_URL": broker_url, "GP_REDIS_URL": redis_url}


def test_rabbitmq_node_is_private_and_answers_ping(rabbitmq: RabbitMQ) -> None:
    ping = subprocess.run(
        [rabbitmq_tool("rabbitmq-diagnostics"), "-q", "-n", rabbitmq.node, "ping"],
        capture_output=True,
        text=True,
        env=rabbitmq.env,
        timeout=60,
        check=False,
    )
    assert ping.returncode == 0, ping.stderr
    assert (rabbitmq.workdir / "mnesia").is_dir()


def test_lines_arrive_exactly_once_through_rabbitmq(
    rabbitmq: RabbitMQ, redis_server: RedisServer, start_worker: StartWorker, tmp_path: Path
) -> None:
    count = 2000
    broker = rabbitmq.vhost("e2e")
    out = tmp_path / "out.jsonl"
    config = write_config(tmp_path / "pipeline.yml", out, batch_size=100, batch_ms=50)
    worker = start_worker(config, broker, env={"GP_REDIS_URL": redis_server.url})
    assert f"amqp://guest:**@127.0.0.1:{rabbitmq.port}/e2e" in worker.output()

    with write_lines(tmp_path / "in.log", count).open("rb") as lines:
        listener = subprocess.run(
            [GP, "listen", "-c", str(config)],
            stdin=lines,
            capture_output=True,
            text=True,
            env=listener_env(broker, redis_server.url),
            cwd=ROOT,
            timeout=120,
            check=False,
        )
    assert listener.returncode == 0, listener.stderr
    assert "Listener: published " in listener.stderr
    assert "0 publish errors" in listener.stderr
    assert_exactly_once(out, count)
    assert rabbitmq.queue_depth(broker, "gp-celery") == 0


HIGH_WATER = 3


def test_listener_pauses_at_the_high_water_mark_read_from_rabbitmq(
    rabbitmq: RabbitMQ, redis_server: RedisServer, start_worker: StartWorker, tmp_path: Path
) -> None:
    count = 20_000  # about 1.4 MB: over 20 chunks of 64 KiB, far more than the mark
    broker = rabbitmq.vhost("backpressure")
    out = tmp_path / "out.jsonl"
    config = write_config(
        tmp_path / "pipeline.yml",
        out,
        chunk_bytes=16384,
        batch_ms=1000,
        high_water_batches=HIGH_WATER,
        low_water_batches=1,
    )
    log = tmp_path / "listener.log"
    with write_lines(tmp_path / "in.log", count).open("rb") as lines, log.open("wb") as output:
        listener = subprocess.Popen(
            [GP, "listen", "-c", str(config)],
            stdin=lines,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=listener_env(broker, redis_server.url),
            cwd=ROOT,
        )
    try:
        wait_for(lambda: b"inputs pause" in log.read_bytes(), 30, f"a pause in {log}")
        depths = []
        for _ in range(10):
            depths.append(rabbitmq.queue_depth(broker, "gp-celery"))
            time.sleep(0.2)
        assert listener.poll() is None, log.read_text()
        assert HIGH_WATER <= min(depths) <= max(depths) <= HIGH_WATER + 1, depths
        assert not out.exists()

        start_worker(config, broker, env={"GP_REDIS_URL": redis_server.url})
        assert listener.wait(timeout=90) == 0, log.read_text()
    finally:
        if listener.poll() is None:
            listener.kill()
            listener.wait()
    text = log.read_text()
    assert "reading again" in text
    assert "Listener: published " in text
    # The first depth check found no queue yet (404 on RabbitMQ): no publish failed over it.
    assert "0 publish errors" in text
    assert_exactly_once(out, count)
    assert rabbitmq.queue_depth(broker, "gp-celery") == 0
