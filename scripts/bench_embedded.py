"""p1 in one process, gp-celery embedded beside the bare-Python baseline, under one set of
conditions: the same interpreter, ``< log`` on stdin, output files in one directory, the
same environment, dirty pages written back before each run, one warm-up each, then A/B
alternating (AB, BA, AB, ...) so drift and cache effects fall on both alike."""

from __future__ import annotations

import datetime
import os
import platform
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from bench_common import (
    GP,
    MILLION,
    OUT,
    P1,
    ROOT,
    SHARED,
    OutputCheck,
    Run,
    bench_env,
    fresh_output,
    interpreter,
    launcher_floor_mb,
    median,
    per_million,
    run_whole,
    say,
    verdict,
)

NAMES = ("baseline", "embedded")


class Check(Protocol):
    """Checks a run's output: OutputCheck (p1) or bench_p2.P2Check."""

    def verify(self, name: str, path: Path, lines: int) -> None: ...


@dataclass
class P1Results:
    """One pipeline's runs, side by side (p1's, or p2's: the same measures)."""

    lines: int
    runs: dict[str, list[Run]] = field(default_factory=lambda: {name: [] for name in NAMES})
    empty: dict[str, list[Run]] = field(default_factory=lambda: {name: [] for name in NAMES})
    """The same commands on empty input: their start-up and exit, taken off the CPU."""
    startup: dict[str, list[Run]] = field(default_factory=lambda: {name: [] for name in NAMES})
    side_by_side: list[Run] = field(default_factory=list)
    """Embedded runs made two at a time (``run_side_by_side``)."""

    def rate(self, name: str, *, best: bool = False) -> float:
        seconds = [run.seconds for run in self.runs[name]]
        return self.lines / (min(seconds) if best else median(seconds))

    def cpu_per_million(self, name: str) -> float:
        """CPU per million events, start-up excluded (median)."""
        startup = median(run.cpu for run in self.empty[name])
        return per_million(median(run.cpu for run in self.runs[name]) - startup, self.lines)

    def side_by_side_cpu_per_million(self) -> float:
        """The same for embedded runs made two at a time."""
        startup = median(run.cpu for run in self.empty["embedded"])
        cpu = median(run.cpu for run in self.side_by_side)
        return per_million(cpu - startup, self.lines)


def p1_command(name: str, target: Path) -> list[str]:
    if name == "baseline":
        return [interpreter(), str(SHARED / "baseline_p1.py"), str(target)]
    return [GP, "run", "-c", str(P1), "--log-level", "warn"]


def run_p1_once(name: str, log: Path | None, check: Check | None, lines: int) -> Run:
    target = OUT / f"p1-{name}.jsonl"
    fresh_output(target)
    run = run_whole(p1_command(name, target), log, bench_env(target))
    if check is not None:
        check.verify(name, target, lines)
    return run


RunOnce = Callable[[str, Path | None, "Check | None", int], Run]
"""Runs side ``name`` once on ``log`` (None: empty input), checking its output if asked."""


def run_p1(log: Path, lines: int, runs: int, check: OutputCheck) -> P1Results:
    return run_alternating(run_p1_once, log, lines, runs, check, names=NAMES)


def run_alternating(
    once: RunOnce, log: Path, lines: int, runs: int, check: Check, *, names: tuple[str, ...]
) -> P1Results:
    """One warm-up per side, then ``runs`` rounds in alternating order (AB, BA, ...), each
    followed by the same commands on empty input (their start-up): p1's and p2's method."""
    results = P1Results(lines)
    for name in names:
        run = once(name, log, check, lines)
        say(f"warm-up   {name:>9}: {lines / run.seconds:>9,.0f} events/s (not counted)")
    for round_ in range(runs):
        order = names if round_ % 2 == 0 else names[::-1]
        for name in order:
            run = once(name, log, check, lines)
            results.runs[name].append(run)
            say(
                f"run {round_ + 1}/{runs} {name:>9}: {lines / run.seconds:>9,.0f} events/s, "
                f"CPU {run.cpu:.2f} s, peak RSS {run.peak_rss_mb:.1f} MB"
            )
        for name in order:
            results.empty[name].append(once(name, None, None, 0))
    return results


def run_side_by_side(results: P1Results, log: Path, runs: int, check: OutputCheck) -> None:
    """Two embedded runs at once, each on the whole log, each writing its own file: what
    two busy processes on this machine's cores cost each other (caches, memory bandwidth,
    the page cache). A fleet on the same cores pays the same, so this, not one process
    alone, is the floor for a fleet's CPU per event here."""
    lines = results.lines
    for round_ in range(runs):
        with ThreadPoolExecutor(2) as pool:
            pair = list(
                pool.map(lambda tag: run_p1_once(f"embedded-{tag}", log, check, lines), "ab")
            )
        results.side_by_side += pair
        say(
            f"run {round_ + 1}/{runs} two embedded side by side: CPU "
            + ", ".join(f"{run.cpu:.2f} s" for run in pair)
        )


def run_startup(results: P1Results, runs: int) -> None:
    """Start-up: the seed stdin example on empty input, beside Python starting the baseline.
    Both write their stderr (the seed example's closing log lines) to one file."""
    env, log = bench_env(OUT / "startup.jsonl"), OUT / "startup.log"
    log.unlink(missing_ok=True)
    commands = {
        "baseline": [interpreter(), str(SHARED / "baseline_p1.py"), os.devnull],
        "embedded": [GP, "run", "-c", str(ROOT / "conf/example-stdin.yml")],
    }
    for round_ in range(runs):
        for name in NAMES if round_ % 2 == 0 else NAMES[::-1]:
            results.startup[name].append(run_whole(commands[name], None, env, log))


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def conditions(
    runs: int, *, rss: bool = True, checked: str = "the same parsed fields as the baseline's"
) -> str:
    text = (
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}. Baseline and embedded run on the same interpreter "
        f"(`{interpreter()}`, the one in gp-celery's `#!` line) with `< log` on stdin, the "
        "same environment, and write to the same directory; dirty pages are written back "
        "(`sync`) before every run; one warm-up each, then "
        f"{plural(runs, 'run')} each in alternating order (AB, BA, ...). Every output was "
        f"checked: one JSON line per input line, {checked}."
    )
    if rss:
        text += (
            f" Peak RSS is wait4()'s, from a launcher whose own RSS ({launcher_floor_mb():.1f} "
            "MB) is the smallest figure it can show."
        )
    return text


def report_embedded(results: P1Results, runs: int) -> str:
    lines = results.lines
    base, emb = results.rate("baseline"), results.rate("embedded")
    base_best, emb_best = results.rate("baseline", best=True), results.rate("embedded", best=True)
    base_cpu, emb_cpu = results.cpu_per_million("baseline"), results.cpu_per_million("embedded")

    def ms(runs_: list[Run], key: str) -> str:
        return f"{median(getattr(run, key) for run in runs_) * 1000:.0f} ms"

    def rss(name: str) -> str:
        return f"{median(run.peak_rss_mb for run in results.runs[name]):.1f} MB"

    rows = [
        "| measure | bare-Python baseline | gp-celery embedded | ratio | target |",
        "|---|---|---|---|---|",
        f"| p1 events/s ({lines:,} lines), median of {runs} | {base:,.0f} | {emb:,.0f} | "
        f"{emb / base:.2f}x | >= 0.7x: {verdict(emb / base, 0.7, at_least=True)} |",
        f"| p1 events/s, best of {runs} | {base_best:,.0f} | {emb_best:,.0f} | "
        f"{emb_best / base_best:.2f}x | |",
        f"| p1 CPU s per {MILLION:,} events (= us/event), start-up excluded | {base_cpu:.2f} | "
        f"{emb_cpu:.2f} | {emb_cpu / base_cpu:.2f}x | |",
        f"| p1 start-up CPU (same command, empty input) | {ms(results.empty['baseline'], 'cpu')} "
        f"| {ms(results.empty['embedded'], 'cpu')} | | |",
        f"| p1 peak RSS | {rss('baseline')} | {rss('embedded')} | | <= 50 MB |",
        f"| start-up (seed stdin example, empty input) | "
        f"{ms(results.startup['baseline'], 'seconds')} | "
        f"{ms(results.startup['embedded'], 'seconds')} | | <= 300 ms |",
    ]
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join([f"### Embedded mode, p1 - {when}", "", conditions(runs), "", *rows, ""])
