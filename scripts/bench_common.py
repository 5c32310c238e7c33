"""Shared by the benchmark scripts: paths, the log, whole-process runs, output checks."""

from __future__ import annotations

import os
import re
import resource
import statistics
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("GP_SHARED", ROOT.parent / "shared")) / "bench"
OUT = ROOT / "bench-out"
VENV_BIN = Path(sys.executable).parent
GP = str(VENV_BIN / "gp-celery")
P1 = ROOT / "bench/p1.yml"
MILLION = 1_000_000


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def interpreter() -> str:
    """The Python that runs gp-celery (its script's #! line); the baseline runs on it too."""
    with open(GP, "rb") as script:
        python = script.readline().removeprefix(b"#!").decode().strip()
    if Path(python).resolve() != Path(sys.executable).resolve():
        raise SystemExit(f"gp-celery runs on {python}, the harness on {sys.executable}")
    return python


def bench_env(target: Path) -> dict[str, str]:
    """One environment for every command: ours, plus the file p1's FileSink writes, and
    Python allowed to cache bytecode: a `pip install` compiles it, so a user never pays
    for compiling at start-up, while a shell with PYTHONDONTWRITEBYTECODE set would charge
    every gp-celery process (and hardly the one-file baseline) for it, run after run."""
    env = {**os.environ, "GP_BENCH_OUT": str(target)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


@dataclass
class Run:
    """One command run to its end, as wait4() reports it."""

    seconds: float
    cpu: float
    """User + system seconds of the process and its waited-for descendants."""
    peak_rss_mb: float


def load_p1() -> Any:
    """bench/p1.yml as gp-celery reads it."""
    from gp_celery.config import load_config

    return load_config(str(P1), bench_env(OUT / "unused.jsonl"))


LAUNCHER = """
import os, sys, time
stats, argv = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execv(argv[0], argv)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - start
with open(stats, "w") as out:
    print(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss,
          os.waitstatus_to_exitcode(status), file=out)
"""
"""Runs a command for run_whole() and reports what wait4() says of it. Why not from here:
a child's peak RSS (ru_maxrss) starts at the RSS of the process that forked it (with
vfork, that process's peak), and this harness holds gp-celery, Celery and psutil, about
40 MB; the old harness reported the baseline's peak RSS as its own (18 MB). This small
`python -S -I` process forks instead."""


def run_whole(
    command: list[str], stdin: Path | None, env: dict[str, str], log: Path | None = None
) -> Run:
    """Run a command to completion with ``< stdin``; its wall time, CPU and peak RSS.
    Its stderr goes to ``log`` (appended) if given."""
    stats = OUT / f"launcher-{threading.get_ident()}.stats"  # commands may run side by side
    launcher = [sys.executable, "-S", "-I", "-c", LAUNCHER, str(stats), *command]
    with open(stdin or os.devnull, "rb") as source, open(log or os.devnull, "ab") as errors:
        subprocess.run(
            launcher,
            stdin=source,
            stdout=subprocess.DEVNULL,
            stderr=errors if log else None,
            env=env,
            check=True,
        )
    seconds, cpu, rss_kb, code = stats.read_text().split()
    if int(code) != 0:
        said = f":\n{log.read_text()[-2000:]}" if log else ""
        raise SystemExit(f"benchmark command failed ({code}): {' '.join(command)}{said}")
    return Run(float(seconds), float(cpu), int(rss_kb) / 1024)


def launcher_floor_mb() -> float:
    """The smallest peak RSS run_whole() can report: the launcher's own, at its fork."""
    return run_whole(["/bin/true"], None, dict(os.environ)).peak_rss_mb


class Reaped:
    """A child reaped with wait4(), which keeps its rusage (Popen.poll() would lose it)."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self.popen = popen
        self.code: int | None = None
        self.cpu = 0.0
        """User + system seconds of the process and its waited-for descendants."""

    def poll(self) -> int | None:
        if self.code is None:
            pid, status, usage = os.wait4(self.popen.pid, os.WNOHANG)
            if pid:
                self._reaped(status, usage)
        return self.code

    def wait(self) -> int:
        if self.code is None:
            _, status, usage = os.wait4(self.popen.pid, 0)
            self._reaped(status, usage)
        assert self.code is not None
        return self.code

    def _reaped(self, status: int, usage: resource.struct_rusage) -> None:
        self.code = self.popen.returncode = os.waitstatus_to_exitcode(status)
        self.cpu = usage.ru_utime + usage.ru_stime


def fresh_output(target: Path) -> None:
    """Remove the last run's output and write back every dirty page before the clock
    starts, so no run pays for the writeback of an earlier run's output."""
    target.unlink(missing_ok=True)
    os.sync()


def count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def generate(lines: int) -> Path:
    OUT.mkdir(exist_ok=True)
    log = OUT / f"access-{lines}.log"
    if not log.exists() or count_lines(log) != lines:
        say(f"generating {lines:,} lines -> {log}")
        with log.open("wb") as handle:
            subprocess.run(
                [sys.executable, str(SHARED / "gen_access_log.py"), str(lines)],
                stdout=handle,
                check=True,
            )
    return log


def shared_regex() -> str:
    return (SHARED / "combined_regex.txt").read_text().strip()


def check_regex_matches_shared() -> None:
    if shared_regex() not in P1.read_text():
        raise SystemExit("bench/p1.yml no longer uses the shared combined regex")


class OutputCheck:
    """Every output must hold one JSON object per input line with the same parsed fields
    as the baseline's, in any order: a sum of CRC32s of each line's regex groups."""

    def __init__(self) -> None:
        self.groups = list(re.compile(shared_regex()).groupindex)
        self.expected: tuple[int, int] | None = None

    def digest(self, path: Path) -> tuple[int, int]:
        import orjson

        lines = total = 0
        with path.open("rb") as handle:
            for lines, line in enumerate(handle, 1):
                try:
                    event = orjson.loads(line)
                except orjson.JSONDecodeError as error:
                    raise SystemExit(f"{path}:{lines}: not a JSON line ({error})") from None
                fields = "\x1f".join(str(event.get(group)) for group in self.groups)
                total += zlib.crc32(fields.encode())
        return lines, total

    def verify(self, name: str, path: Path, lines: int) -> None:
        """Fail loudly unless ``path`` holds the same ``lines`` events as the reference.
        A good output is deleted (its dirty pages need not be written back); a bad one
        stays for a look."""
        written, total = self.digest(path) if path.exists() else (0, 0)
        if written != lines:
            raise SystemExit(f"{name} wrote {written:,} lines for {lines:,} input lines")
        if self.expected is None:
            self.expected = (written, total)
        elif (written, total) != self.expected:
            raise SystemExit(f"{name} wrote {lines:,} lines, but not the baseline's events")
        path.unlink()


class OutputTail:
    """Counts the lines of a growing file, reading each byte once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines = 0
        self._handle: BinaryIO | None = None

    def count(self) -> int:
        if self._handle is None:
            if not self.path.exists():
                return 0
            self._handle = self.path.open("rb")
        while block := self._handle.read(1 << 20):
            self.lines += block.count(b"\n")
        return self.lines

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def per_million(seconds: float, events: int) -> float:
    """CPU seconds per million events, which is also microseconds per event."""
    return seconds * MILLION / events


def verdict(value: float, limit: float, *, at_least: bool) -> str:
    met = value >= limit if at_least else value <= limit
    return "met" if met else "**not met**"
