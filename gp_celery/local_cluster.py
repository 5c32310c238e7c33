"""`gp-celery run --workers N`: the distributed code path on one host.

Starts a private redis-server on a unix socket in a temporary directory, a Celery prefork
worker with N processes (plus one single-process worker for each stage whose modules must
see every event in one process), waits until they answer, and runs the listener in this
process. At the end of input (or on SIGINT/SIGTERM) it waits until every queued and
unacknowledged chunk is done, then stops the workers (warm shutdown) and Redis. A worker or
Redis that dies, or a worker that never answers, stops everything with the reason; it never
waits forever. Children get their own session, so a Ctrl-C reaches this process only and
the shutdown happens in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from gp_celery.broker.settings import BrokerSettings
from gp_celery.config import PipelineConfig

log = logging.getLogger(__name__)

INSTALL_HINT: Final = (
    "redis-server is not installed; `gp-celery run` needs it for workers > 1. "
    "Install it with: sudo apt-get install redis-server (or run with --workers 1)"
)
READY_SECS: Final = 60.0
"""How long workers may take to answer before the run gives up."""
BROADCAST_STOP_SECS: Final = 10.0
"""How long a drained worker may take to stop after the broadcast shutdown."""
TERM_STOP_SECS: Final = 30.0
"""How long a worker may take to finish its chunk after SIGTERM."""
ORPHAN_STOP_SECS: Final = 2.0
"""How long a worker that lost the broker may take to stop after SIGTERM: it has nothing
left to acknowledge, and Celery's reconnect loop would otherwise hold it for minutes."""


class LocalClusterError(RuntimeError):
    """The private broker or a worker could not start, or died."""


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]

    def check_alive(self) -> None:
        code = self.process.poll()
        if code is not None:
            raise LocalClusterError(f"the {self.name} exited with code {code}")


def die_with_this_process() -> None:
    """In the child, before exec: the kernel kills it when `gp-celery run` dies, even by
    SIGKILL, so a killed run leaves no redis-server or worker behind. Linux only."""
    if sys.platform == "linux":
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGKILL)


@contextlib.contextmanager
def private_redis() -> Iterator[tuple[Path, Child]]:
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
        preexec_fn=die_with_this_process,  # noqa: PLW1509 - no threads run yet
    )
    try:
        deadline = time.monotonic() + 10
        while not socket_path.exists():
            if server.poll() is not None or time.monotonic() > deadline:
                raise LocalClusterError("the private redis-server did not start")
            time.sleep(0.02)
        yield socket_path, Child("private redis-server", server)
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def start_worker(
    config_path: str, broker_url: str, concurrency: int, queues: list[str], name: str
) -> Child:
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
        "--pool",
        "solo",
        "-Q",
        ",".join(queues),
        "--loglevel",
        "WARNING",
        "--hostname",
        f"{name}@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    environment = {**os.environ, "GP_BROKER_URL": broker_url}
    environment.pop("GP_REDIS_URL", None)
    process = subprocess.Popen(  # noqa: S603 - our interpreter, our argv
        command,
        env=environment,
        start_new_session=True,
        preexec_fn=die_with_this_process,  # noqa: PLW1509 - no threads run yet
    )
    return Child(f"worker '{name}'", process)


def single_stage_queues(config: PipelineConfig) -> list[str]:
    """Queues whose stage holds a module that must see every event in one process."""
    return sorted(
        {
            queue
            for queue in config.stage_queues
            for node in config.stage_members(queue)
            if node.module is not None and node.module.state == "single"
        }
    )


@contextlib.contextmanager
def why_redis_failed(children: list[Child], grace: float = 2.0) -> Iterator[None]:
    """A call to the private Redis failed: name the child that died (a killed redis-server
    refuses connections a moment before it can be reaped), else say Redis does not answer."""
    from redis.exceptions import RedisError

    try:
        yield
    except RedisError as error:
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            for child in children:
                child.check_alive()
            time.sleep(0.05)
        raise LocalClusterError(f"the private Redis does not answer ({error})") from None


@dataclass
class Watch:
    """Called about ten times a second while the listener runs: a dead child, or a worker
    not ready in time, stops the run with the reason. The listener reads meanwhile (its
    chunks wait in the private Redis), so a worker's start-up costs the run no time."""

    client: Any
    children: list[Child]
    waiting: list[str]
    """Worker names not ready yet."""
    started: float

    def __call__(self) -> None:
        from gp_celery.tasks import READY_PREFIX

        for child in self.children:
            child.check_alive()
        if not self.waiting:
            return
        with why_redis_failed(self.children):
            ready = [key.decode() for key in self.client.keys(READY_PREFIX + "*")]
        self.waiting = [
            name
            for name in self.waiting
            if not any(f"{READY_PREFIX}{name}@" in key for key in ready)
        ]
        if self.waiting and time.monotonic() - self.started > READY_SECS:
            raise LocalClusterError(
                f"the workers ({', '.join(self.waiting)}) were not ready within {READY_SECS:.0f}s"
            )


def backlog(client: Any, queues: list[str]) -> int:
    """Chunks queued or in flight (unacknowledged) on the private broker."""
    from gp_celery.broker.sweep import PRIORITY_SUFFIXES, UNACKED_KEY

    pipe = client.pipeline()
    for queue in queues:
        for suffix in PRIORITY_SUFFIXES:
            pipe.llen(queue + suffix)
    pipe.hlen(UNACKED_KEY)
    return sum(int(size) for size in pipe.execute())


def wait_until_drained(client: Any, queues: list[str], children: list[Child]) -> None:
    while True:
        with why_redis_failed(children):
            remaining = backlog(client, queues)
        if not remaining:
            return
        try:
            for child in children:
                child.check_alive()
        except LocalClusterError as error:
            raise LocalClusterError(f"{error}, with {remaining} chunks left") from None
        time.sleep(0.05)


def keep_letters(client: Any, path: str) -> int:
    """Move what the workers set aside out of the private Redis, which goes away with the
    run, into ``Global: dead_letter_file``, where `gp-celery dlq` finds it as after an
    embedded run; return how many events that was."""
    from gp_celery.broker.letters import FileLetters, RedisLetters

    fleet = RedisLetters(client)
    records = fleet.read()
    letters = [record.letter for record in records if record.letter is not None]
    if letters:
        FileLetters(path).send(letters)
    fleet.remove([record for record in records if record.letter is not None])
    return sum(len(letter.events) for letter in letters)


def run_local_cluster(config: PipelineConfig, config_path: str, workers: int) -> int:
    """Run until the input ends; return how many events went to the dead letters."""
    from redis.exceptions import RedisError

    from gp_celery.app import app, use_settings
    from gp_celery.broker.redis import redis_client
    from gp_celery_inputs.listener.listen import listen

    queues = config.stage_queues
    single = single_stage_queues(config)
    with private_redis() as (socket_path, redis_child):
        url = f"redis+socket://{socket_path}"
        settings = BrokerSettings(broker_url=url, store_url=url)
        use_settings(app, settings)
        shared = [queue for queue in queues if queue not in single]
        pools = [(f"gp-local-{n + 1}", 1, shared) for n in range(workers)]
        pools += [(f"gp-local-{queue}", 1, [queue]) for queue in single]
        pools = [pool for pool in pools if pool[2]]
        children = [start_worker(config_path, url, n, qs, name) for name, n, qs in pools]
        client = redis_client(url)
        watch = Watch(
            client, [redis_child, *children], [name for name, _, _ in pools], time.monotonic()
        )
        try:
            asyncio.run(listen(config, settings, check=False, watch=watch))
            wait_until_drained(client, queues, [redis_child, *children])
            while watch.waiting:  # an empty input can end before the workers are ready
                watch()
                time.sleep(0.05)
        finally:
            stop_workers(app, children, broker_alive=redis_child.process.poll() is None)
            try:
                kept = keep_letters(client, config.settings.dead_letter_file)
            except (RedisError, OSError) as error:
                log.error(  # noqa: TRY400 - a sentence; the run's own error follows
                    "Could not move the dead letters out of the private Redis (%s).", error
                )
                kept = 0
    return kept


def stop_workers(app: Any, children: list[Child], broker_alive: bool) -> None:
    """Warm shutdown through the broker; a worker that did not hear it (it was still
    starting) gets SIGTERM, and one that still does not stop, SIGKILL. Without a broker
    there is nothing to finish, so the workers are terminated at once."""
    alive = [child for child in children if child.process.poll() is None]
    if alive and broker_alive:
        # A remote-control shutdown is warm like SIGTERM, but Celery prints nothing on
        # stdout for it, and stdout carries StdOutSink's events.
        app.control.shutdown()
    deadline = time.monotonic() + (BROADCAST_STOP_SECS if broker_alive else 0.1)
    term_grace = TERM_STOP_SECS if broker_alive else ORPHAN_STOP_SECS
    for child in alive:
        for signum, grace in ((signal.SIGTERM, term_grace), (signal.SIGKILL, 10.0)):
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
                break
            except subprocess.TimeoutExpired:
                os.killpg(child.process.pid, signum)
                deadline = time.monotonic() + grace
