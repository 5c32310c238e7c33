"""p1 through the fleet: CPU per role and events/s, for three set-ups on one host.

(a) and (b): a private redis-server on a unix socket (the one `gp-celery run --workers`
starts), a prefork worker with 1 or 2 pool processes, started and answering before the
clock starts, then `gp-celery listen < log`. The clock runs from the listener's start until
the last event is in the output file. CPU: the listener's from wait4(), less the CPU of the
same listener on empty input (its start-up); the worker's main process, its pool
processes and redis-server from psutil, read just before the listener starts and again
right after the last event was written (before anything is stopped).

(c): `gp-celery run --workers 2 < log` as a whole, clock from its start (so its start-up
counts). Every process of its tree (the `run` process, which hosts the listener,
redis-server, the worker and its pool) is read with psutil every 20 ms until it exits.
CPU by role: from the last reading before it first read stdin (seen in
/proc/PID/fdinfo/0) to a reading right after the last event was in the output, as for (a)
and (b). The whole tree's CPU from start to exit is kept too (the last reading of each
process, taken at most 20 ms before it ended), beside wait4()'s figure for the `run`
process, which counts only the descendants it waited for.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import redis
from bench_common import (
    GP,
    OUT,
    P1,
    OutputCheck,
    OutputTail,
    Reaped,
    bench_env,
    fresh_output,
    load_p1,
    run_whole,
    say,
)

from gp_celery.local_cluster import Child

ROLES = ("listener", "worker_main", "pool", "redis")
POLL_SECS = 0.02
LISTENER_LOG = "listener.log"
STALL_SECS = 120.0
"""No new output line for this long, with the input not all written: the run failed."""


@dataclass
class RoleCpu:
    listener: float = 0.0
    worker_main: float = 0.0
    pool: float = 0.0
    redis: float = 0.0

    @property
    def fleet(self) -> float:
        return self.listener + self.worker_main + self.pool + self.redis


@dataclass
class FleetRun:
    seconds: float
    """From the start of the listener (or of `gp-celery run`) until the last event is in
    the output file."""
    cpu: RoleCpu
    """CPU seconds of the run, start-up excluded."""
    harness_cpu: float
    """This script's own CPU meanwhile (polling, counting output lines)."""
    redis_stats: dict[str, int] = field(default_factory=dict)
    exit_seconds: float = 0.0
    reading_after: float = 0.0
    """(c) only: seconds from the start until it first read stdin (its start-up)."""
    wait4_cpu: float = 0.0
    """(c) only: wait4() of the `run` process, start-up included (cross-check)."""
    sampled_cpu: float = 0.0
    """(c) only: the sum of the sampled processes, start-up included."""


def cpu_of(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def wait_until_ready(client: Any, worker: Child, name: str) -> None:
    """Until the worker says it consumes (the key every worker sets when ready)."""
    from gp_celery.tasks import READY_PREFIX

    deadline = time.monotonic() + 60
    while not client.keys(f"{READY_PREFIX}{name}@*"):
        worker.check_alive()
        if time.monotonic() > deadline:
            raise SystemExit(f"the worker {name} was not ready within 60 s")
        time.sleep(0.05)


def worker_command(config: Path, concurrency: int, queues: list[str]) -> list[str]:
    """A prefork worker with ``concurrency`` pool processes, as an operator starts one."""
    return [
        *(sys.executable, "-m", "celery", "-A", "gp_celery", "--quiet", "worker"),
        *("--gp-config", str(config), "--concurrency", str(concurrency), "--pool", "prefork"),
        *("-Q", ",".join(queues), "--loglevel", "WARNING", "--hostname", "gp-bench@%h"),
        *("--without-gossip", "--without-mingle", "--without-heartbeat"),
    ]


def wait_for_output(
    tail: OutputTail, lines: int, start: float, check_alive: Callable[[], None]
) -> float:
    """Seconds from ``start`` until ``lines`` lines are in the output; fails on a stall."""
    seen, last_progress = 0, time.monotonic()
    while (count := tail.count()) < lines:
        if count != seen:
            seen, last_progress = count, time.monotonic()
        elif time.monotonic() - last_progress > STALL_SECS:
            raise SystemExit(f"no progress for {STALL_SECS:.0f}s at {count:,} of {lines:,} lines")
        check_alive()
        time.sleep(POLL_SECS)
    return time.perf_counter() - start


def redis_stats(socket_path: Path) -> dict[str, int]:
    client = redis.Redis(unix_socket_path=str(socket_path))
    stats = client.info("stats")
    client.close()
    keys = ("total_net_input_bytes", "total_net_output_bytes", "total_commands_processed")
    return {key: int(stats[key]) for key in keys}


class Service:
    """A ready worker and its private redis-server, with what a listener run needs."""

    def __init__(
        self, worker: Any, redis_child: Any, socket_path: Path, env: dict[str, str]
    ) -> None:
        self.children = [redis_child, worker]
        self.worker = psutil.Process(worker.process.pid)
        self.redis = psutil.Process(redis_child.process.pid)
        self.socket_path = socket_path
        self.env = env
        self.target = Path(env["GP_BENCH_OUT"])

    def check_alive(self) -> None:
        for child in self.children:
            child.check_alive()

    def readings(self) -> dict[int, float]:
        """CPU of the worker's main process, each pool process and redis-server, by pid."""
        found = {self.worker.pid: cpu_of(self.worker), self.redis.pid: cpu_of(self.redis)}
        found.update({child.pid: cpu_of(child) for child in self.worker.children()})
        return found

    def spent(self, before: dict[int, float], after: dict[int, float]) -> RoleCpu:
        if lost := set(before) - set(after):
            say(f"warning: processes {sorted(lost)} ended during the run; their CPU is lost")
        main, server = self.worker.pid, self.redis.pid
        pool = [
            cpu - before.get(pid, 0.0) for pid, cpu in after.items() if pid not in (main, server)
        ]
        return RoleCpu(
            worker_main=after[main] - before[main],
            pool=sum(pool),
            redis=after[server] - before[server],
        )


def measure_listener_worker(
    log: Path, lines: int, concurrency: int, queues: list[str], check: OutputCheck
) -> FleetRun:
    """Set-ups (a) and (b): a ready worker with ``concurrency`` pool processes, then the
    listener on the log; the same listener on empty input first gives its start-up CPU."""
    from gp_celery.broker.redis import redis_client
    from gp_celery.local_cluster import private_redis

    target = OUT / f"p1-fleet-{concurrency}.jsonl"
    target.unlink(missing_ok=True)
    with private_redis() as (socket_path, redis_child):
        url = f"redis+socket://{socket_path}"
        env = {**bench_env(target), "GP_BROKER_URL": url}
        with (OUT / f"worker-{concurrency}.log").open("wb") as worker_log:
            worker = Child(
                "worker",
                subprocess.Popen(
                    worker_command(P1, concurrency, queues),
                    env=env,
                    stdout=worker_log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                ),
            )
        try:
            wait_until_ready(redis_client(url), worker, "gp-bench")
            time.sleep(1.0)  # the pool processes finish building their runtimes
            (OUT / LISTENER_LOG).unlink(missing_ok=True)
            startup = run_whole(listen_command(), None, env, OUT / LISTENER_LOG)
            os.sync()
            run = _timed_listener(log, lines, Service(worker, redis_child, socket_path, env))
            run.cpu.listener -= startup.cpu
        finally:
            stop(worker.process)
    check.verify(f"listener + {concurrency} pool processes", target, lines)
    return run


def stop(process: subprocess.Popen[bytes]) -> None:
    """Warm shutdown, as a service manager would do it."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def listen_command() -> list[str]:
    return [GP, "listen", "-c", str(P1), "--log-level", "warn"]


def _timed_listener(log: Path, lines: int, service: Service) -> FleetRun:
    """The clock runs from the listener's start until the last event is in the output."""
    before, harness_before = service.readings(), self_cpu()
    stats_before = redis_stats(service.socket_path)
    tail = OutputTail(service.target)
    with log.open("rb") as source, (OUT / LISTENER_LOG).open("ab") as errors:
        start = time.perf_counter()
        listener = Reaped(
            subprocess.Popen(
                listen_command(),
                stdin=source,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                env=service.env,
            )
        )

        def check_alive() -> None:
            service.check_alive()
            if listener.poll() not in (None, 0):
                raise SystemExit(f"the listener failed ({listener.code}): see {errors.name}")

        seconds = wait_for_output(tail, lines, start, check_alive)
    tail.close()
    after, stats_after = service.readings(), redis_stats(service.socket_path)
    harness = self_cpu() - harness_before
    if listener.wait() != 0:
        raise SystemExit(f"the listener failed ({listener.code}): see {OUT / LISTENER_LOG}")
    cpu = service.spent(before, after)
    cpu.listener = listener.cpu
    delta = {key: stats_after[key] - stats_before[key] for key in stats_before}
    return FleetRun(seconds, cpu, harness, delta)


class TreeSampler:
    """The latest CPU reading of every process under a root, by role. The tree is walked
    (a scan of /proc, about 2 ms) every 5th sample, if asked; the known processes are read
    every time (about 20 us each)."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.members: dict[int, tuple[str, psutil.Process]] = {}
        self.readings: dict[int, tuple[str, float]] = {}
        self.samples = 0

    def role(self, process: psutil.Process) -> str:
        if process.pid == self.root:
            return "listener"
        if "redis-server" in process.name():
            return "redis"
        return "worker_main" if process.ppid() == self.root else "pool"

    def discover(self) -> None:
        try:
            root = psutil.Process(self.root)
            for process in [root, *root.children(recursive=True)]:
                if process.pid not in self.members:
                    self.members[process.pid] = (self.role(process), process)
        except psutil.Error:
            return

    def sample(self, *, discover: bool = True) -> None:
        if discover and self.samples % 5 == 0:
            self.discover()
        self.samples += 1
        for pid, (role, process) in list(self.members.items()):
            try:
                self.readings[pid] = (role, cpu_of(process))
            except psutil.Error:
                del self.members[pid]  # gone: its last reading stays

    def by_role(self, since: dict[int, tuple[str, float]] | None = None) -> RoleCpu:
        """CPU by role, all of it or what was spent after the readings ``since``."""
        cpu = RoleCpu()
        for pid, (role, seconds) in self.readings.items():
            earlier = since[pid][1] if since and pid in since else 0.0
            setattr(cpu, role, getattr(cpu, role) + seconds - earlier)
        return cpu


def _stdin_position(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/fdinfo/0") as info:
            return next(int(line.split()[1]) for line in info if line.startswith("pos:"))
    except (OSError, StopIteration, ValueError):
        return 0


@dataclass
class TreeWatch:
    """Moments of a `gp-celery run` seen from outside, with the tree's CPU readings."""

    start: float
    reading_after: float = 0.0
    before_reading: dict[int, tuple[str, float]] = field(default_factory=dict)
    seconds: float = 0.0
    at_last_event: RoleCpu | None = None


def measure_run_workers(log: Path, lines: int, workers: int, check: OutputCheck) -> FleetRun:
    """Set-up (c): `gp-celery run --workers N < log`, its tree sampled until it exits.

    Its CPU by role counts from the last reading before it read stdin (the listener's
    start) to the reading right after the last event was in the output; the whole tree's
    CPU from start to exit is kept beside it, with wait4()'s figure as a cross-check."""
    target = OUT / f"p1-run-workers-{workers}.jsonl"
    fresh_output(target)
    command = [GP, "run", "--workers", str(workers), "-c", str(P1), "--log-level", "warn"]
    tail, harness_before = OutputTail(target), self_cpu()
    with log.open("rb") as source, (OUT / "run-workers.log").open("wb") as errors:
        watch = TreeWatch(time.perf_counter())
        root = Reaped(
            subprocess.Popen(
                command,
                stdin=source,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                env=bench_env(target),
            )
        )
        sampler = TreeSampler(root.popen.pid)
        last_progress, seen = time.monotonic(), 0
        while True:
            exited = root.poll() is not None  # then one more pass: the output is complete
            previous = dict(sampler.readings)
            # Its processes all start before it reads stdin: no need to look for new ones.
            sampler.sample(discover=not watch.reading_after)
            if not watch.reading_after and _stdin_position(root.popen.pid) > 0:
                watch.reading_after = time.perf_counter() - watch.start
                watch.before_reading = previous
            if not watch.seconds and (count := tail.count()) != seen:
                seen, last_progress = count, time.monotonic()
                if count >= lines:
                    watch.seconds = time.perf_counter() - watch.start
                    sampler.sample()
                    watch.at_last_event = sampler.by_role(watch.before_reading)
            if exited:
                break
            if time.monotonic() - last_progress > STALL_SECS:
                raise SystemExit(f"`gp-celery run --workers {workers}` made no progress")
            time.sleep(POLL_SECS)
    tail.close()
    exit_seconds, harness = time.perf_counter() - watch.start, self_cpu() - harness_before
    if root.code != 0 or watch.at_last_event is None:
        tail_of_log = (OUT / "run-workers.log").read_text()[-2000:]
        raise SystemExit(f"`gp-celery run --workers {workers}` failed ({root.code}): {tail_of_log}")
    check.verify(f"gp-celery run --workers {workers}", target, lines)
    return FleetRun(
        watch.seconds,
        watch.at_last_event,
        harness,
        exit_seconds=exit_seconds,
        reading_after=watch.reading_after,
        wait4_cpu=root.cpu,
        sampled_cpu=sampler.by_role().fleet,
    )


def run_fleet(log: Path, lines: int, runs: int, check: OutputCheck) -> dict[str, list[FleetRun]]:
    queues = load_p1().stage_queues
    setups: dict[str, Callable[[], FleetRun]] = {
        "a": lambda: measure_listener_worker(log, lines, 1, queues, check),
        "b": lambda: measure_listener_worker(log, lines, 2, queues, check),
        "c": lambda: measure_run_workers(log, lines, 2, check),
    }
    results: dict[str, list[FleetRun]] = {name: [] for name in setups}
    for round_ in range(runs):
        names = list(setups)
        order = names[round_ % 3 :] + names[: round_ % 3]
        for name in order:
            run = setups[name]()
            results[name].append(run)
            say(
                f"run {round_ + 1}/{runs} fleet ({name}): {lines / run.seconds:>9,.0f} events/s, "
                f"CPU listener {run.cpu.listener:.2f} s, worker main {run.cpu.worker_main:.2f} s, "
                f"pool {run.cpu.pool:.2f} s, redis {run.cpu.redis:.2f} s"
            )
    return results
