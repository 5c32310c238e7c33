"""`gp-celery run --workers N`: the distributed code path on one host.

Starts a private redis-server on a unix socket in a temporary directory, a Celery prefork
worker with N processes, and the listener in this process; at the end of input (or on
SIGINT/SIGTERM) it waits until every queued and unacknowledged batch is done, then stops
the worker (warm shutdown) and Redis. Children get their own session, so a Ctrl-C reaches
this process only and the shutdown happens in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gp_celery.config import PipelineConfig

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "redis-server is not installed; `gp-celery run` needs it for workers > 1. "
    "Install it with: sudo apt-get install redis-server (or run with --workers 1)"
)


class LocalClusterError(RuntimeError):
    """The private broker or worker could not start."""


@contextlib.contextmanager
def private_redis() -> Iterator[Path]:
    """A redis-server only this run can reach: unix socket, no TCP port, no persistence."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise LocalClusterError(INSTALL_HINT)
    workdir = Path(tempfile.mkdtemp(prefix="gp-celery-"))
    socket_path = workdir / "redis.sock"
    server = subprocess.Popen(  # noqa: S603 - fixed argv: our redis-server, our temp dir
        [
            binary,
            "--port",
            "0",
            "--unixsocket",
            str(socket_path),
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            "--maxmemory-policy",
            "noeviction",
        ],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10
        while not socket_path.exists():
            if server.poll() is not None or time.monotonic() > deadline:
                raise LocalClusterError("the private redis-server did not start")
            time.sleep(0.02)
        yield socket_path
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def start_worker(config_path: str, workers: int, queues: list[str]) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "gp_celery",
        "--quiet",  # no banner: the worker's stdout is StdOutSink's
        "worker",
        "--gp-config",
        config_path,
        "--concurrency",
        str(workers),
        "--pool",
        "prefork",
        "-Q",
        ",".join(queues),
        "--loglevel",
        "WARNING",
        "--hostname",
        "gp-local@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    return subprocess.Popen(command, start_new_session=True)  # noqa: S603 - fixed argv


def backlog(client: Any, queues: list[str]) -> int:
    """Batches queued or in flight (unacknowledged) on the private broker."""
    pipe = client.pipeline()
    for queue in queues:
        for suffix in ("", "\x06\x163", "\x06\x166", "\x06\x169"):
            pipe.llen(queue + suffix)
    pipe.hlen("unacked")
    return sum(int(size) for size in pipe.execute())


def wait_until_drained(client: Any, queues: list[str], worker: subprocess.Popen[bytes]) -> None:
    while (remaining := backlog(client, queues)) > 0:
        if worker.poll() is not None:
            raise LocalClusterError(
                f"the worker exited ({worker.returncode}) with "
                f"{remaining} batches left in the private broker"
            )
        time.sleep(0.05)


def run_local_cluster(config: PipelineConfig, config_path: str, workers: int) -> None:
    import redis

    queues = config.stage_queues
    from gp_celery.app import app

    with private_redis() as socket_path:
        # The worker reads the environment; this process's app may already exist.
        url = os.environ["GP_BROKER_URL"] = f"redis+socket://{socket_path}"
        app.conf.update(broker_url=url)
        worker = start_worker(config_path, workers, queues)
        try:
            from gp_celery_inputs.listener.listen import listen

            asyncio.run(listen(config, check_broker=False))
            wait_until_drained(redis.Redis(unix_socket_path=str(socket_path)), queues, worker)
        finally:
            if worker.poll() is None:
                # A remote-control shutdown is warm like SIGTERM, but Celery prints nothing
                # on stdout for it, and stdout carries StdOutSink's events.
                app.control.shutdown()
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                worker.terminate()
                worker.wait(timeout=30)
