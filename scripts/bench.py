"""Embedded-mode benchmark p1 beside the bare-Python baseline, in the same run.

Each measurement runs the command as a child process and reads its wall time and peak RSS
from wait4(); the outputs are checked to hold one line per input line, so a fast run that
dropped events cannot pass for a fast run.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("GP_SHARED", ROOT.parent / "shared")) / "bench"
OUT = ROOT / "bench-out"
VENV_BIN = Path(sys.executable).parent
GP = str(VENV_BIN / "gp-celery")


@dataclass
class Sample:
    seconds: float
    peak_rss_mb: float


def measure(command: list[str], stdin: Path | None, env: dict[str, str] | None = None) -> Sample:
    """Run a command to completion; its wall time and its own peak RSS (not ours)."""
    with open(stdin or os.devnull, "rb") as source:
        start = time.perf_counter()
        child = subprocess.Popen(
            command, stdin=source, stdout=subprocess.DEVNULL, env={**os.environ, **(env or {})}
        )
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"benchmark command failed ({child.returncode}): {' '.join(command)}")
    return Sample(seconds, usage.ru_maxrss / 1024)


def count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def generate(lines: int) -> Path:
    OUT.mkdir(exist_ok=True)
    log = OUT / f"access-{lines}.log"
    if not log.exists() or count_lines(log) != lines:
        print(f"generating {lines:,} lines -> {log}", file=sys.stderr)
        with log.open("wb") as handle:
            subprocess.run(
                [sys.executable, str(SHARED / "gen_access_log.py"), str(lines)],
                stdout=handle,
                check=True,
            )
    return log


def check_regex_matches_shared() -> None:
    shared = (SHARED / "combined_regex.txt").read_text().strip()
    if shared not in (ROOT / "bench/p1.yml").read_text():
        raise SystemExit("bench/p1.yml no longer uses the shared combined regex")


def run_p1(log: Path, lines: int, runs: int) -> dict[str, list[Sample]]:
    results: dict[str, list[Sample]] = {"baseline": [], "gp-celery": []}
    out_base, out_gp = OUT / "p1-baseline.jsonl", OUT / "p1-gp.jsonl"
    for run in range(runs):
        for name in ("baseline", "gp-celery"):
            target = out_base if name == "baseline" else out_gp
            target.unlink(missing_ok=True)
            if name == "baseline":
                sample = measure([sys.executable, str(SHARED / "baseline_p1.py"), str(target)], log)
            else:
                sample = measure(
                    [GP, "run", "-c", str(ROOT / "bench/p1.yml"), "--log-level", "warn"],
                    log,
                    {"GP_BENCH_OUT": str(target)},
                )
            written = count_lines(target)
            if written != lines:
                raise SystemExit(f"{name} wrote {written:,} lines for {lines:,} input lines")
            results[name].append(sample)
            print(
                f"run {run + 1}/{runs} {name:>9}: {lines / sample.seconds:>9,.0f} events/s, "
                f"peak RSS {sample.peak_rss_mb:.1f} MB",
                file=sys.stderr,
            )
    return results


def run_startup(runs: int) -> dict[str, list[Sample]]:
    """Start-up: the seed stdin example on empty stdin, beside python running the baseline."""
    results: dict[str, list[Sample]] = {"baseline": [], "gp-celery": []}
    for _ in range(runs):
        results["baseline"].append(
            measure([sys.executable, str(SHARED / "baseline_p1.py"), os.devnull], None)
        )
        results["gp-celery"].append(
            measure([GP, "run", "-c", str(ROOT / "conf/example-stdin.yml")], None)
        )
    return results


@dataclass
class DistributedSample:
    seconds: float
    listener_rss_mb: float
    worker_rss_mb: dict[str, float]
    redis_rss_mb: float


def _tree_rss(processes: dict[str, Any], peaks: dict[str, float]) -> None:
    """Sample each process's RSS (and its children's, under their own names)."""
    import psutil

    for name, process in processes.items():
        try:
            members = [
                (name, process),
                *((f"{name} child {n + 1}", child) for n, child in enumerate(process.children())),
            ]
            for label, member in members:
                rss = member.memory_info().rss / (1 << 20)
                peaks[label] = max(peaks.get(label, 0.0), rss)
        except psutil.Error:
            continue


def measure_distributed(log: Path, lines: int, workers: int, batch_size: int) -> DistributedSample:
    """Worker(s) ready first; then the clock runs from the listener's start until the
    last event is in the output file (so it includes draining the queue)."""
    import psutil

    from gp_celery.local_cluster import private_redis

    target = OUT / f"p1-dist-{workers}.jsonl"
    target.unlink(missing_ok=True)
    config = OUT / "p1-dist.yml"
    config.write_text(
        f"- Global:\n   high_water_batches: 400\n   batch_size: {batch_size}\n"
        + (ROOT / "bench/p1.yml").read_text()
    )
    with private_redis() as socket_path:
        env = {
            **os.environ,
            "GP_BROKER_URL": f"redis+socket://{socket_path}",
            "GP_BENCH_OUT": str(target),
        }
        worker_log = OUT / f"worker-{workers}.log"
        with worker_log.open("wb") as output:
            worker = subprocess.Popen(
                [
                    str(VENV_BIN / "celery"),
                    "-A",
                    "gp_celery",
                    "worker",
                    "--gp-config",
                    str(config),
                    "-Q",
                    "gp-celery",
                    "--concurrency",
                    str(workers),
                    "--loglevel",
                    "WARNING",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                ],
                stdout=output,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        redis_process = next(
            p
            for p in psutil.process_iter(["cmdline"])
            if str(socket_path) in " ".join(p.info["cmdline"] or [])
        )
        _wait_for_worker(worker, worker_log)
        peaks: dict[str, float] = {}
        with log.open("rb") as source:
            start = time.perf_counter()
            listener = subprocess.Popen(
                [GP, "listen", "-c", str(config), "--log-level", "warn"], stdin=source, env=env
            )
            watched = {"worker": psutil.Process(worker.pid), "redis": redis_process}
            while not target.exists() or count_lines(target) < lines:
                _tree_rss(watched, peaks)
                time.sleep(0.05)
            seconds = time.perf_counter() - start
        _, _, usage = os.wait4(listener.pid, 0)
        listener_rss = usage.ru_maxrss / 1024
        worker.terminate()
        worker.wait(timeout=60)
    written = count_lines(target)
    if written != lines:
        raise SystemExit(f"distributed ({workers}) wrote {written:,} lines for {lines:,}")
    worker_peaks = {k: v for k, v in peaks.items() if k.startswith("worker")}
    return DistributedSample(seconds, listener_rss, worker_peaks, peaks.get("redis", 0.0))


def _wait_for_worker(worker: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise SystemExit(f"the worker exited: {log.read_text()[-2000:]}")
        # Ready when its pool children exist and it has connected; give it a moment more.
        import psutil

        if len(psutil.Process(worker.pid).children()) >= 1:
            time.sleep(2.0)
            return
        time.sleep(0.1)
    raise SystemExit("the worker did not start")


def median(samples: list[Sample], key: str) -> float:
    return statistics.median(getattr(sample, key) for sample in samples)


def report(
    lines: int, runs: int, p1: dict[str, list[Sample]], startup: dict[str, list[Sample]]
) -> str:
    base_rate = lines / median(p1["baseline"], "seconds")
    gp_rate = lines / median(p1["gp-celery"], "seconds")
    rows = [
        "| measure | bare-Python baseline | gp-celery embedded | ratio | target |",
        "|---|---|---|---|---|",
        f"| p1 events/s ({lines:,} lines) | {base_rate:,.0f} | {gp_rate:,.0f} | "
        f"{gp_rate / base_rate:.2f}x | >= 0.7x |",
        f"| p1 peak RSS | {median(p1['baseline'], 'peak_rss_mb'):.1f} MB | "
        f"{median(p1['gp-celery'], 'peak_rss_mb'):.1f} MB | | <= 50 MB |",
        f"| start-up (seed stdin example, empty input) | "
        f"{median(startup['baseline'], 'seconds') * 1000:.0f} ms | "
        f"{median(startup['gp-celery'], 'seconds') * 1000:.0f} ms | | <= 300 ms |",
    ]
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            f"### Embedded mode, p1 - {when}",
            "",
            f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}. Medians of {runs} runs; every run's output was checked "
            "to hold one JSON line per input line.",
            "",
            *rows,
            "",
        ]
    )


def report_distributed(
    lines: int,
    runs: int,
    embedded: list[Sample],
    baseline: list[Sample],
    dist: dict[int, list[DistributedSample]],
    *,
    batch_size: int,
) -> str:
    batches = -(-lines // batch_size)
    base_rate = lines / median(baseline, "seconds")
    emb_seconds = median(embedded, "seconds")
    rows = [
        "| mode | events/s | vs baseline | vs embedded | overhead per batch | peak RSS |",
        "|---|---|---|---|---|---|",
        f"| bare-Python baseline | {base_rate:,.0f} | 1.00x | | | "
        f"{median(baseline, 'peak_rss_mb'):.1f} MB |",
        f"| embedded (1 process) | {lines / emb_seconds:,.0f} | "
        f"{lines / emb_seconds / base_rate:.2f}x | 1.00x | | "
        f"{median(embedded, 'peak_rss_mb'):.1f} MB |",
    ]
    for workers, samples in sorted(dist.items()):
        seconds = statistics.median(sample.seconds for sample in samples)
        rate = lines / seconds
        overhead_ms = (seconds - emb_seconds) / batches * 1000 * workers
        last = samples[-1]
        rss = ", ".join(
            [
                f"listener {last.listener_rss_mb:.0f}",
                *(f"{k} {v:.0f}" for k, v in sorted(last.worker_rss_mb.items())),
                f"redis {last.redis_rss_mb:.0f}",
            ]
        )
        rows.append(
            f"| listener + {workers} worker process{'es' if workers > 1 else ''} | "
            f"{rate:,.0f} | {rate / base_rate:.2f}x | {emb_seconds / seconds:.2f}x | "
            f"{overhead_ms:.2f} ms | {rss} MB |"
        )
    one = statistics.median(sample.seconds for sample in dist[1])
    two = statistics.median(sample.seconds for sample in dist[2])
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            f"### Distributed mode, p1, batch_size {batch_size} - {when}",
            "",
            f"{lines:,} lines, batches of {batch_size} ({batches:,} tasks), Redis on a unix "
            f"socket, medians of {runs} runs. The clock runs from the listener's start until "
            "the last event is in the output file; workers were started (and ready) before. "
            "Listener, worker processes and Redis share this machine's cores. Overhead per "
            "batch = (run "
            "time - embedded run time) x worker processes / batches.",
            "",
            *rows,
            "",
            f"2 worker processes vs 1: {one / two:.2f}x (target >= 1.5x); 1 worker process vs "
            f"embedded: {emb_seconds / one:.2f}x (target >= 0.8x).",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print, don't edit BENCHMARKS.md")
    parser.add_argument("--mode", choices=["embedded", "distributed", "all"], default="embedded")
    args = parser.parse_args()
    check_regex_matches_shared()
    log = generate(args.lines)
    p1 = run_p1(log, args.lines, args.runs)
    sections = []
    if args.mode in ("embedded", "all"):
        startup = run_startup(max(5, args.runs))
        sections.append(report(args.lines, args.runs, p1, startup))
    if args.mode in ("distributed", "all"):
        for batch_size in (500, 2000):
            dist: dict[int, list[DistributedSample]] = {1: [], 2: []}
            for run in range(args.runs):
                for workers in (1, 2):
                    sample = measure_distributed(log, args.lines, workers, batch_size)
                    dist[workers].append(sample)
                    print(
                        f"run {run + 1}/{args.runs} distributed x{workers}, batch {batch_size}: "
                        f"{args.lines / sample.seconds:,.0f} events/s",
                        file=sys.stderr,
                    )
            sections.append(
                report_distributed(
                    args.lines,
                    args.runs,
                    p1["gp-celery"],
                    p1["baseline"],
                    dist,
                    batch_size=batch_size,
                )
            )
    text = "\n".join(sections)
    print(text)
    if not args.no_write:
        write_results(text, args.mode)


def write_results(section: str, mode: str) -> None:
    """Replace this mode's generated section of BENCHMARKS.md, keeping everything else."""
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    begin, end = f"<!-- bench:{mode}:begin -->", f"<!-- bench:{mode}:end -->"
    block = f"{begin}\n{section.rstrip()}\n{end}"
    if begin in text and end in text:
        text = text.split(begin)[0] + block + text.split(end, 1)[1]
    else:
        text = f"{text.rstrip()}\n\n{block}\n"
    path.write_text(text)


if __name__ == "__main__":
    main()
