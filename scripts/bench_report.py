"""The distributed-mode and p2 sections of BENCHMARKS.md: throughput, CPU per role, targets
and what they say about scaling, all from one run's measures; p2 beside its baseline."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from bench_common import MILLION, median, per_million, verdict
from bench_distributed import ROLES, FleetRun
from bench_embedded import NAMES, P1Results, conditions, plural

SETUPS = {
    "a": "(a) listener + worker, 1 pool process",
    "b": "(b) listener + worker, 2 pool processes",
    "c": "(c) `gp-celery run --workers 2`",
}
HOST_CORES = 8
"""The worker host the scaling section counts in."""
GBIT = 1e9 / 8


def about(value: float) -> str:
    """A rough figure rounded to three significant digits: 2,439,024 -> 2,440,000."""
    digits = len(str(int(abs(value)))) - 3
    return f"{round(value, -digits) if digits > 0 else value:,.0f}"


@dataclass
class Fleet:
    """The medians of one set-up's runs."""

    lines: int
    runs: list[FleetRun]

    @property
    def rate(self) -> float:
        return self.lines / median(run.seconds for run in self.runs)

    @property
    def best_rate(self) -> float:
        return self.lines / min(run.seconds for run in self.runs)

    def cpu(self, role: str) -> float:
        """CPU seconds per million events (= us per event) of a role, or 'fleet'."""
        return per_million(median(getattr(run.cpu, role) for run in self.runs), self.lines)

    def per_event(self, key: str) -> float:
        return median(run.redis_stats[key] for run in self.runs) / self.lines

    def harness(self) -> float:
        return per_million(median(run.harness_cpu for run in self.runs), self.lines)


def throughput_rows(p1: P1Results, fleets: dict[str, Fleet]) -> list[str]:
    base, emb = p1.rate("baseline"), p1.rate("embedded")
    rows = [
        "| set-up | events/s (median) | best | vs embedded | vs baseline |",
        "|---|---|---|---|---|",
        f"| bare-Python baseline | {base:,.0f} | {p1.rate('baseline', best=True):,.0f} | "
        f"{base / emb:.2f}x | 1.00x |",
        f"| embedded (1 process) | {emb:,.0f} | {p1.rate('embedded', best=True):,.0f} | "
        f"1.00x | {emb / base:.2f}x |",
    ]
    for name, fleet in fleets.items():
        rows.append(
            f"| {SETUPS[name]} | {fleet.rate:,.0f} | {fleet.best_rate:,.0f} | "
            f"{fleet.rate / emb:.2f}x | {fleet.rate / base:.2f}x |"
        )
    return rows


def cpu_rows(p1: P1Results, fleets: dict[str, Fleet]) -> list[str]:
    emb = p1.cpu_per_million("embedded")
    rows = [
        "| set-up | listener | worker main | pool (sum) | Redis | fleet | fleet vs embedded "
        "| listener vs embedded |",
        "|---|---|---|---|---|---|---|---|",
        f"| bare-Python baseline | | | | | {p1.cpu_per_million('baseline'):.2f} | "
        f"{p1.cpu_per_million('baseline') / emb:.2f}x | |",
        f"| embedded (1 process) | | | | | {emb:.2f} | 1.00x | |",
    ]
    if p1.side_by_side:
        pair = p1.side_by_side_cpu_per_million()
        label = "embedded, two processes side by side"
        rows.append(f"| {label} | | | | | {pair:.2f} | {pair / emb:.2f}x | |")
    for name, fleet in fleets.items():
        roles = " | ".join(f"{fleet.cpu(role):.2f}" for role in ROLES)
        rows.append(
            f"| {SETUPS[name]} | {roles} | {fleet.cpu('fleet'):.2f} | "
            f"{fleet.cpu('fleet') / emb:.2f}x | {fleet.cpu('listener') / emb:.2f}x |"
        )
    return rows


def target_rows(p1: P1Results, fleets: dict[str, Fleet]) -> list[str]:
    emb_rate, emb_cpu = p1.rate("embedded"), p1.cpu_per_million("embedded")
    rows = ["| target | measured | |", "|---|---|---|"]

    def add(text: str, value: float, limit: float, *, at_least: bool) -> None:
        rows.append(f"| {text} | {value:.2f}x | {verdict(value, limit, at_least=at_least)} |")

    for name in ("a", "b"):
        if name in fleets:
            add(
                f"listener CPU per event <= 0.15x embedded's, {name}",
                fleets[name].cpu("listener") / emb_cpu,
                0.15,
                at_least=False,
            )
    for name, fleet in fleets.items():
        add(
            f"fleet CPU per event <= 1.3x embedded's, {name}",
            fleet.cpu("fleet") / emb_cpu,
            1.3,
            at_least=False,
        )
    if "c" in fleets:
        add(
            "`run --workers 2` events/s >= 1.2x embedded",
            fleets["c"].rate / emb_rate,
            1.2,
            at_least=True,
        )
    if "a" in fleets:
        add(
            "listener + 1 pool process events/s >= 0.8x embedded",
            fleets["a"].rate / emb_rate,
            0.8,
            at_least=True,
        )
    add("embedded p1 >= 0.7x the bare script", emb_rate / p1.rate("baseline"), 0.7, at_least=True)
    return rows


def side_by_side_line(p1: P1Results, fleets: dict[str, Fleet]) -> str:
    """The fleet's CPU beside embedded runs that, like the fleet's processes, share the
    cores: how much of the fleet's extra CPU is the machine's and how much the fleet's."""
    if not p1.side_by_side:
        return ""
    alone, pair = p1.cpu_per_million("embedded"), p1.side_by_side_cpu_per_million()
    ratios = ", ".join(f"{name} {fleet.cpu('fleet') / pair:.2f}x" for name, fleet in fleets.items())
    return (
        f"Two embedded processes run side by side, each on the whole log, use {pair:.2f} us "
        f"of CPU per event against {alone:.2f} us alone ({pair / alone:.2f}x): busy processes "
        "on these two cores slow each other (shared caches, memory bandwidth, the page "
        f"cache), and a fleet's processes share them too. Fleet CPU against that: {ratios}."
    )


def redis_line(fleets: dict[str, Fleet]) -> str:
    parts = []
    for name in ("a", "b"):
        if name in fleets:
            fleet = fleets[name]
            parts.append(
                f"{name}: {fleet.per_event('total_net_input_bytes'):.0f} bytes in, "
                f"{fleet.per_event('total_net_output_bytes'):.0f} bytes out, "
                f"{fleet.per_event('total_commands_processed') * 1000:.2f} commands per "
                "1,000 events"
            )
    return "Redis per event (INFO stats, over the timed run): " + "; ".join(parts) + "."


def tree_line(fleet: Fleet) -> str:
    runs = fleet.runs
    reading = median(run.reading_after for run in runs)
    after_startup = fleet.lines / median(run.seconds - run.reading_after for run in runs)
    return (
        f"(c) as a whole (medians): {median(run.exit_seconds for run in runs):.2f} s from start "
        f"to exit; it read stdin after {reading:.2f} s (Redis and the worker starting), so "
        f"{after_startup:,.0f} events/s counted from then. Its process tree used "
        f"{median(run.sampled_cpu for run in runs):.2f} s of CPU from start to exit, "
        f"sampled with psutil; wait4() of the `run` process says "
        f"{median(run.wait4_cpu for run in runs):.2f} s (it counts only the descendants it "
        "waited for)."
    )


def harness_line(fleets: dict[str, Fleet]) -> str:
    each = ", ".join(f"{name} {fleet.harness():.2f}" for name, fleet in fleets.items())
    return (
        f"This script's own CPU while it watched a run (polling, counting output lines), "
        f"s per {MILLION:,} events: {each}."
    )


def scaling(fleet: Fleet) -> list[str]:
    """How far one Redis goes, from the measured CPU and bytes per event."""
    redis_us = fleet.cpu("redis")
    worker_us = fleet.cpu("worker_main") + fleet.cpu("pool")
    listener_us = fleet.cpu("listener")
    bytes_in = fleet.per_event("total_net_input_bytes")
    bytes_out = fleet.per_event("total_net_output_bytes")
    if redis_us <= 0:
        return ["Redis's CPU was too small to measure: no scaling estimate."]
    ceiling = MILLION / redis_us
    worker_cores = worker_us / redis_us

    def link(gbit: int) -> str:
        carries = gbit * GBIT / max(bytes_in, bytes_out)
        first = "the link" if carries < ceiling else "Redis's core"
        return f"{gbit} Gbit/s carries {about(carries)} events/s ({first} saturates first)"

    return [
        "#### Scaling: how many workers one Redis feeds",
        "",
        f"From set-up (b), per event: listener {listener_us:.2f} us, worker (main + pool) "
        f"{worker_us:.2f} us, Redis {redis_us:.3f} us of CPU; Redis took in {bytes_in:.0f} "
        f"bytes and sent {bytes_out:.0f} bytes per event.",
        "",
        f"- One Redis core saturates at about {about(ceiling)} events/s. At that rate it feeds "
        f"{worker_cores:.0f} worker cores ({worker_cores / HOST_CORES:.1f} worker hosts of "
        f"{HOST_CORES} cores) and takes the chunks of {listener_us / redis_us:.1f} listener "
        "cores.",
        f"- Its network at that rate: {about(ceiling * bytes_in / 1e6)} MB/s in, "
        f"{about(ceiling * bytes_out / 1e6)} MB/s out. A full-duplex link of "
        f"{link(1)}; of {link(10)}.",
        "",
    ]


def report_distributed(
    p1: P1Results, fleet_runs: dict[str, list[FleetRun]], runs: int, chunk_bytes: int
) -> str:
    lines = p1.lines
    fleets = {name: Fleet(lines, samples) for name, samples in fleet_runs.items()}
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = [
        f"### Distributed mode, p1 - {when}",
        "",
        f"{lines:,} lines (the embedded log), chunks of {chunk_bytes:,} bytes, a private "
        f"Redis on a unix socket; medians of {plural(runs, 'run')}, all in this run. "
        + conditions(runs, rss=False),
        "",
        *throughput_rows(p1, fleets),
        "",
        f"CPU seconds per {MILLION:,} events (= us per event), start-up excluded:",
        "",
        *cpu_rows(p1, fleets),
        "",
        side_by_side_line(p1, fleets),
        redis_line(fleets),
        harness_line(fleets),
    ]
    if "c" in fleets:
        text.append(tree_line(fleets["c"]))
    text += ["", *target_rows(p1, fleets), ""]
    if "b" in fleets:
        text += scaling(fleets["b"])
    return "\n".join(text)


P2_TARGET = 0.8
"""gp-celery embedded p2 events/s against the baseline's."""
SIDES = {"baseline": "bare-Python baseline", "embedded": "gp-celery embedded"}


def report_p2(results: P1Results, runs: int, compared: str) -> str:
    """The p2 section: events/s, CPU, start-up and peak RSS of each side that ran (the
    baseline alone, with --baseline-only), and the ratio against the 0.8x target."""
    names = [name for name in NAMES if results.runs[name]]
    both = len(names) == len(NAMES)
    lines = results.lines

    def ms(name: str) -> str:
        return f"{median(run.cpu for run in results.empty[name]) * 1000:.0f} ms"

    def rss(name: str) -> str:
        return f"{median(run.peak_rss_mb for run in results.runs[name]):.1f} MB"

    def row(label: str, values: dict[str, str], ratio: str = "", target: str = "") -> str:
        cells = " | ".join(values.values())
        return f"| {label} | {cells} |" + (f" {ratio} | {target} |" if both else "")

    def per(key: str) -> dict[str, str]:
        form = ".2f" if key == "cpu" else ",.0f"
        return {name: format(figure(name, key), form) for name in names}

    def figure(name: str, key: str) -> float:
        if key == "rate":
            return results.rate(name)
        if key == "best":
            return results.rate(name, best=True)
        return results.cpu_per_million(name)

    def ratio(key: str) -> str:
        if not both:
            return ""
        return f"{figure('embedded', key) / figure('baseline', key):.2f}x"

    rate_ratio = figure("embedded", "rate") / figure("baseline", "rate") if both else 0.0
    target = f">= {P2_TARGET}x: {verdict(rate_ratio, P2_TARGET, at_least=True)}" if both else ""
    header = " | ".join(SIDES[name] for name in names)
    rows = [
        f"| measure | {header} |" + (" ratio | target |" if both else ""),
        "|---|" + "---|" * len(names) + ("---|---|" if both else ""),
        row(f"p2 events/s ({lines:,} lines), median of {runs}", per("rate"), ratio("rate"), target),
        row(f"p2 events/s, best of {runs}", per("best"), ratio("best")),
        row(
            f"p2 CPU s per {MILLION:,} events (= us/event), start-up excluded",
            per("cpu"),
            ratio("cpu"),
        ),
        row("p2 start-up CPU (same command, empty input)", {name: ms(name) for name in names}),
        row("p2 peak RSS", {name: rss(name) for name in names}),
    ]
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    title = f"### Embedded mode, p2 - {when}" + ("" if both else " (baseline only)")
    checked = (
        "the baseline's fields as the section on p2 says (the regex groups, data, @timestamp "
        f"as an instant; {compared})"
    )
    return "\n".join([title, "", conditions(runs, checked=checked), "", *rows, ""])
