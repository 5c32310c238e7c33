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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print, don't edit BENCHMARKS.md")
    args = parser.parse_args()
    check_regex_matches_shared()
    log = generate(args.lines)
    p1 = run_p1(log, args.lines, args.runs)
    startup = run_startup(max(5, args.runs))
    text = report(args.lines, args.runs, p1, startup)
    print(text)
    if not args.no_write:
        write_results(text)


def write_results(section: str) -> None:
    """Replace the generated section of BENCHMARKS.md, keeping the hand-written text."""
    path = ROOT / "BENCHMARKS.md"
    marker = "<!-- scripts/bench writes below this line -->"
    head = path.read_text().split(marker)[0] if path.exists() else "# Benchmarks\n\n"
    path.write_text(f"{head.rstrip()}\n\n{marker}\n\n{section}")


if __name__ == "__main__":
    main()
